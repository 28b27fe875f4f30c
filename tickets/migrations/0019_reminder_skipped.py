"""Reminders a late sweep does not send are marked skipped (issue 13): a later one of the
same ticket was also due, their instant came before the ticket, or no working time was
left before the deadline. Choices only: no schema change in the database."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0018_apitoken_expiry"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reminder",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("sent", "Sent"),
                    ("cancelled", "Cancelled"),
                    ("skipped", "Skipped"),
                ],
                default="pending",
                max_length=16,
                verbose_name="status",
            ),
        ),
    ]

"""The "mine" tab's index takes the store too: its count and its order are then a range
read of one member's tickets in one store (a member of several stores sees one at a
time). It replaces the index without the store, so escalations rewrite no more indexes."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0005_verbose_names"),
        ("tickets", "0013_verbose_names"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="ticket",
            name="ticket_assignee_state_due",
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["assignee", "store", "state", "due_at"], name="ticket_mine"),
        ),
    ]

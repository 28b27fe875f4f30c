"""The "mine" index holds assigned tickets only (every query of it names an assignee):
escalating an unassigned ticket, most of what the sweep escalates, writes nothing to it."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0005_verbose_names"),
        ("tickets", "0015_covering_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="ticket",
            name="ticket_mine",
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                condition=models.Q(("assignee__isnull", False)),
                fields=["assignee", "store", "state", "due_at"],
                name="ticket_mine",
            ),
        ),
    ]

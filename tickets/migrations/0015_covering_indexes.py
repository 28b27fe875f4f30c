"""Indexes that answer the big pages from the index alone (bench_pages at 1 M tickets):
the store's (store, state, due_at) index carries created_at and id (the overview's
count of today's tickets and their join to replies), the escalation-time index carries
the store (the overview's escalations of today), replies by time carry their ticket,
and the staff's escalated queue has a small partial index in its own order. The number
of indexes an escalation rewrites grows by one, and only for escalated rows."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0005_verbose_names"),
        ("tickets", "0014_mine_index_by_store"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="ticket",
            name="ticket_store_state_due",
        ),
        migrations.RemoveIndex(
            model_name="ticket",
            name="ticket_escalated_at",
        ),
        migrations.AlterField(
            model_name="reply",
            name="replied_at",
            field=models.DateTimeField(verbose_name="replied at"),
        ),
        migrations.AddIndex(
            model_name="reply",
            index=models.Index(fields=["replied_at"], include=("ticket",), name="reply_replied_at"),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=["store", "state", "due_at"],
                include=("created_at", "id"),
                name="ticket_store_state_due",
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                condition=models.Q(("escalated_at__isnull", False)),
                fields=["escalated_at"],
                include=("store",),
                name="ticket_escalated_at",
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                condition=models.Q(("state", "escalated")),
                fields=["-priority", "escalated_at", "id"],
                name="ticket_escalated_queue",
            ),
        ),
    ]

"""TicketEvent.txid: the writing transaction's id, filled by PostgreSQL on every INSERT.

The integration feed and webhooks read the event stream in (txid, id) order and only
below the oldest running transaction, so no event can later appear behind a cursor
(integration/feed.py). Rows that exist already get this migration's transaction id:
they all sit before any event written afterwards, which is their true order. SQLite
leaves the column NULL (one writer at a time: id order is commit order there).

pg_current_xact_id() is STABLE, so PostgreSQL stores the added column's value for the
existing rows once, in the catalogue, without rewriting the table; the index build
does read the whole table and blocks writes to it meanwhile.
"""

import tickets.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("tickets", "0022_api_idempotency"),
    ]

    operations = [
        migrations.AddField(
            model_name="ticketevent",
            name="txid",
            field=models.BigIntegerField(
                blank=True,
                db_default=tickets.models.CurrentTransactionId(),
                editable=False,
                null=True,
                verbose_name="transaction id",
            ),
        ),
        migrations.AddIndex(
            model_name="ticketevent",
            index=models.Index(fields=["txid", "id"], name="ticket_event_txid_id"),
        ),
    ]

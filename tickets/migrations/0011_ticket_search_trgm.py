"""Search in the merchant's work queue: a pg_trgm GIN index on the one expression the
queue searches (tickets.queue.SearchText), so ``LIKE '%…%'`` on any part of a ticket or
order number, the consumer's name, the phone's last 4 digits or the summary (Chinese
included) is an index scan. PostgreSQL only; SQLite searches with a plain scan.

CREATE EXTENSION needs a role allowed to create it (the superuser here; in a managed
database, enable pg_trgm once by hand and this migration finds it).
"""

from django.db import migrations

SEARCH_EXPRESSION = (
    "UPPER(number || ' ' || order_number || ' ' || consumer_name || ' ' || "
    "RIGHT(consumer_phone, 4) || ' ' || summary)"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS ticket_search_trgm ON tickets_ticket "
        f"USING gin (({SEARCH_EXPRESSION}) gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS ticket_search_trgm")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0010_evidence_thumbnail_decision_notifications")]

    operations = [migrations.RunPython(create, drop, elidable=False)]

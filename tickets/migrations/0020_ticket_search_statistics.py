"""Statistics on the search expression, so the planner knows how common a term is.

Without them PostgreSQL guesses that ``LIKE '%…%'`` on the expression matches ~100
rows whatever the term, and for a common one (a consumer name on 1 in 20 tickets)
reads every match in the whole table through the trigram index and sorts them, where
walking the store's deadline index finds a page of matches in a few hundred rows
(bench_pages, search by name at 1 M tickets: 222 ms → 7 ms for that query). With the
expression's most common values and histogram, it estimates each term and picks the
trigram index for rare terms, the ordered walk for common ones. PostgreSQL only.
"""

from django.db import migrations

# The expression of the trigram index (0011) and of tickets.queue.SearchText, as it
# was when this ran (a migration keeps its own copy; a test checks they agree).
SEARCH_EXPRESSION = (
    "UPPER(number || ' ' || order_number || ' ' || consumer_name || ' ' || "
    "RIGHT(consumer_phone, 4) || ' ' || summary)"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE STATISTICS IF NOT EXISTS ticket_search_text_stats "
        f"ON ({SEARCH_EXPRESSION}) FROM tickets_ticket"
    )
    # Statistics are gathered by ANALYZE (autovacuum does it later); a sample, quick
    # even at millions of rows.
    schema_editor.execute("ANALYZE tickets_ticket")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP STATISTICS IF EXISTS ticket_search_text_stats")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0019_reminder_skipped")]

    operations = [migrations.RunPython(create, drop, elidable=False)]

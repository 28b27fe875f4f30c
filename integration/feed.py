"""The event stream in commit order: positions, cursors and the read that never skips.

The stream is tickets.TicketEvent: every service writes its event in the same
transaction as the change. A position is (txid, id), txid being the writing
transaction's id (TicketEvent.txid, filled by PostgreSQL).

Why no event can ever appear behind a cursor (PostgreSQL)
---------------------------------------------------------
Ordering by id alone is not enough: ids come from a sequence when the row is
inserted, not when its transaction commits, so a long transaction can commit id 7
after id 8 was read and handed out; a reader at "after 8" would never see 7.

Instead a read returns only events whose txid is below the *horizon*: the xmin of a
snapshot taken for the read, the oldest transaction still running at that instant.
Every transaction with a smaller id has finished by then (committed or rolled back),
and any transaction that starts later gets a larger id. So the set of events with
txid < horizon is final: visible in full now and never added to. Reads return that
set in (txid, id) order from the cursor on, and a cursor only ever names a position
below a horizon, so everything at or before a cursor was final when the cursor was
made. The price is latency: an event waits until every transaction older than its
own has finished (normally milliseconds; as long as the longest running transaction).

SQLite (development) has one writer at a time and no transaction ids: txid is NULL,
the order is id order, and there is no horizon.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import Max, Q

from tickets.models import TicketEvent

from .events import actions_of

Position = tuple[int, int]  # (txid, event id); (0, 0) is the start of the stream
START: Position = (0, 0)
BIGINT_MAX = 2**63 - 1
# What the schemas and the serialiser read of each event: a fixed number of queries.
EVENT_RELATED = ("ticket__store", "actor")


class BadCursor(ValueError):
    """A cursor this server did not make."""


def _ordered_by_txid() -> bool:
    return connection.vendor == "postgresql"


def position_of(event: TicketEvent) -> Position:
    return (event.txid or 0, event.pk)


def cursor_encode(position: Position) -> str:
    txid, event_id = position
    return base64.urlsafe_b64encode(f"{txid}.{event_id}".encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> Position:
    """The position a cursor names; BadCursor for anything cursor_encode could not make."""
    if not cursor or len(cursor) > 64:
        raise BadCursor(cursor)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor(cursor) from exc
    txid, dot, event_id = text.partition(".")
    digits = txid + event_id
    if not (dot and txid and event_id and digits.isascii() and digits.isdigit()):
        raise BadCursor(cursor)
    position = (int(txid), int(event_id))
    if max(position) > BIGINT_MAX or cursor_encode(position) != cursor:
        raise BadCursor(cursor)  # one spelling per position: no leading zeros, no padding
    return position


def feed_horizon() -> int | None:
    """Events with a txid below this are final (see the module's docstring)."""
    if not _ordered_by_txid():
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class FeedBlocker:
    """A transaction the horizon cannot pass: the events written after it wait."""

    pid: int
    database: str
    user: str
    state: str  # "active", "idle in transaction", …
    age: timedelta  # since the transaction began
    query: str  # its latest statement, cut to 200 characters


def feed_blockers(*, older_than: timedelta) -> list[FeedBlocker]:
    """Transactions holding the horizon back for longer than ``older_than``, the oldest
    first: those that have written (they hold a transaction id), in *any* database of
    the server, since transaction ids are server-wide. Empty on SQLite.

    Other users' sessions show only to a superuser or a member of pg_read_all_stats."""
    if not _ordered_by_txid():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT pid, coalesce(datname, ''), coalesce(usename, ''), coalesce(state, ''),
                   now() - xact_start, left(coalesce(query, ''), 200)
            FROM pg_stat_activity
            WHERE backend_xid IS NOT NULL
              AND pid <> pg_backend_pid()
              AND xact_start < now() - %s
            ORDER BY xact_start
            """,
            [older_than],
        )
        return [FeedBlocker(*row) for row in cursor.fetchall()]


def _final(queryset, horizon: int | None):
    return queryset if horizon is None else queryset.filter(txid__lt=horizon)


def _after(queryset, position: Position):
    txid, event_id = position
    if not _ordered_by_txid():
        return queryset.filter(pk__gt=event_id).order_by("pk")
    # txid >= t first, so the (txid, id) index bounds the scan; then the tie on t by id.
    later = Q(txid__gt=txid) | Q(txid=txid, pk__gt=event_id)
    return queryset.filter(later, txid__gte=txid).order_by("txid", "pk")


def feed_head(horizon: int | None = None) -> Position:
    """The last final position: where a reader that wants no history starts."""
    if horizon is None and _ordered_by_txid():
        horizon = feed_horizon()
    events = _final(TicketEvent.objects.all(), horizon)
    if not _ordered_by_txid():
        return (0, events.aggregate(last=Max("pk"))["last"] or 0)
    last = events.order_by("-txid", "-pk").values_list("txid", "pk").first()
    return (last[0], last[1]) if last else START


@dataclass(frozen=True)
class FeedPage:
    events: list[TicketEvent]
    next: Position  # where the following read starts; the same position when nothing came
    full: bool  # the page hit its limit: more final events may follow at once


def feed_read(*, after: Position, limit: int, types=()) -> FeedPage:
    """Up to ``limit`` final events after ``after``, in stream order, of ``types`` (public
    event types; empty for all). Three queries at most, whatever the limit.

    When a page of some types is not full, every final event up to the horizon has been
    looked at, so ``next`` moves on to the head (past events of other types), sparing
    the next read a walk over them again.
    """
    horizon = feed_horizon()
    events = _after(_final(TicketEvent.objects.all(), horizon), after)
    if types:
        events = events.filter(action__in=actions_of(types))
    page = list(events.select_related(*EVENT_RELATED)[:limit])
    full = len(page) >= limit
    next_position = position_of(page[-1]) if page else after
    if types and not full:
        next_position = max(next_position, feed_head(horizon))
    return FeedPage(events=page, next=next_position, full=full)

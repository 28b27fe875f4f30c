"""The deadline sweep: escalation, auto-confirmation, reminders, delivery retries.

Set-based and restart-safe. Each step takes rows in batches ordered by pk with
``SELECT … FOR UPDATE SKIP LOCKED``, applies the rule to the whole batch in a
fixed number of statements, commits, and repeats until no row remains (no run
cap: a backlog of any size is finished, Znuny's 1,000-per-run cap is the bug
we avoid). Several workers can sweep at once: each takes rows the others have
not locked. A worker killed mid-batch rolls its batch back whole.
"""

import logging
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import NamedTuple
from zlib import crc32

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext as _

from merchants.models import Store

from ..bulk import insert_rows, update_by_ids
from ..models import Reminder, Ticket, TicketEvent, TicketState
from .common import EVENT_FIELDS
from .deliveries import deliveries_due
from .lifecycle import EscalationRow, tickets_confirm_locked, tickets_escalate_locked
from .notifications import deliveries_announce, notifications_reminders

logger = logging.getLogger(__name__)

# ours (SPEC.md): a settled reply nobody confirms or objects to is confirmed after 72 h.
AUTO_CONFIRM_AFTER = timedelta(hours=72)


@dataclass
class SweepResult:
    escalated: int = 0
    confirmed: int = 0
    reminders: int = 0
    deliveries_queued: int = 0
    batches: int = 0
    skipped_locked: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


class ReminderRow(NamedTuple):
    reminder_id: int
    ticket_id: int
    offset_minutes: int
    store_id: int
    number: str
    due_at: datetime
    recipient_id: int | None


def sweep_run(*, now: datetime, batch_size: int | None = None) -> SweepResult:
    """One full sweep at instant ``now``; a no-op if another sweep holds the lock."""
    batch_size = batch_size or settings.SWEEP_BATCH_SIZE
    result = SweepResult()
    with sweep_lock("deadline-sweep") as acquired:
        if not acquired:
            result.skipped_locked = True
            return result
        # Escalate first: a ticket already past due gets no "hours left" reminder.
        result.escalated, batches = sweep_escalations(now=now, batch_size=batch_size)
        result.batches += batches
        result.confirmed, batches = sweep_auto_confirm(now=now, batch_size=batch_size)
        result.batches += batches
        result.reminders, batches = sweep_reminders(now=now, batch_size=batch_size)
        result.batches += batches
        result.deliveries_queued = sweep_deliveries(now=now)
    logger.info("Sweep at %s: %s", now.isoformat(), result.as_dict())
    return result


def _batches(step, *, batch_size: int) -> tuple[int, int]:
    """Run ``step`` (one batch in its own transaction, returning rows done) until a
    short batch says nothing is left."""
    total = batches = 0
    while True:
        with transaction.atomic():
            done = step(batch_size)
        if done:
            total += done
            batches += 1
        if done < batch_size:
            return total, batches


def sweep_escalations(*, now: datetime, batch_size: int) -> tuple[int, int]:
    """Every open ticket whose deadline has passed goes to platform intervention;
    the merchant is deemed to have waived evidence (视为放弃举证)."""
    reason = _("No reply before the deadline: the merchant is deemed to have waived evidence.")

    def step(limit: int) -> int:
        rows = [
            EscalationRow(*values)
            for values in Ticket.objects.select_for_update(skip_locked=True)
            .filter(state=TicketState.OPEN, due_at__lte=now)
            .order_by("pk")
            .values_list("pk", "store_id", "number", "due_at")[:limit]
        ]
        tickets_escalate_locked(
            rows=rows,
            from_state=TicketState.OPEN,
            actor=None,
            now=now,
            reason=reason,
            waived_evidence=True,
        )
        return len(rows)

    return _batches(step, batch_size=batch_size)


def sweep_auto_confirm(*, now: datetime, batch_size: int) -> tuple[int, int]:
    """Settled replies nobody confirmed or objected to within 72 h are confirmed by
    the system, so no ticket waits forever (ours, SPEC.md)."""
    reason = _("Settled reply confirmed automatically after 72 hours without objection.")

    def step(limit: int) -> int:
        ids = list(
            Ticket.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                state=TicketState.REPLIED,
                merchant_reply__settles=True,
                merchant_reply__replied_at__lte=now - AUTO_CONFIRM_AFTER,
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        tickets_confirm_locked(ids=ids, actor=None, now=now, reason=reason)
        return len(ids)

    return _batches(step, batch_size=batch_size)


def sweep_reminders(*, now: datetime, batch_size: int) -> tuple[int, int]:
    """Send every reminder whose instant has come, once: the pending → sent update
    of its row is what makes it once, whatever runs twice or dies midway."""

    def step(limit: int) -> int:
        rows = [
            ReminderRow(*values)
            for values in Reminder.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=Reminder.Status.PENDING,
                fire_at__lte=now,
                ticket__state=TicketState.OPEN,
                ticket__due_at__gt=now,
            )
            .order_by("pk")
            .values_list(
                "pk",
                "ticket_id",
                "offset_minutes",
                "ticket__store_id",
                "ticket__number",
                "ticket__due_at",
                # Reminders go to the assignee first; unassigned ones to the whole store.
                "ticket__assignee_id",
            )[:limit]
        ]
        if not rows:
            return 0
        update_by_ids(
            Reminder,
            [row.reminder_id for row in rows],
            status=Reminder.Status.SENT,
            sent_at=now,
        )
        insert_rows(
            TicketEvent,
            EVENT_FIELDS,
            (
                (
                    row.ticket_id,
                    "reminder_sent",
                    "",
                    "",
                    None,
                    now,
                    "",
                    {"reminder": row.reminder_id, "minutes_before_due": row.offset_minutes},
                )
                for row in rows
            ),
        )
        stores = Store.objects.in_bulk({row.store_id for row in rows})
        deliveries_announce(notifications_reminders(rows=rows, stores=stores, now=now))
        return len(rows)

    return _batches(step, batch_size=batch_size)


def sweep_deliveries(*, now: datetime) -> int:
    """Queue again what failed (after its backoff) or what a dead worker held."""
    ids = deliveries_due(now=now)
    deliveries_announce(ids)
    return len(ids)


@contextmanager
def sweep_lock(name: str):
    """Overlapping sweeps (two beats, a slow run) skip instead of doubling the work.

    SKIP LOCKED already keeps them correct; the advisory lock just keeps them cheap.
    On SQLite (one writer at a time anyway) there is nothing to take.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    key = crc32(name.encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])

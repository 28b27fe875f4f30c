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
from django.db.models import Case, DateTimeField, Exists, OuterRef, Prefetch, Q, Value, When
from django.utils.translation import gettext as _

from merchants.models import Store

from .. import sla
from ..bulk import insert_rows, update_by_ids
from ..models import (
    CalendarException,
    Reminder,
    Ticket,
    TicketEvent,
    TicketState,
    WorkingCalendar,
)
from .common import EVENT_FIELDS
from .deliveries import deliveries_due
from .lifecycle import EscalationRow, tickets_confirm_locked, tickets_escalate_locked
from .notifications import deliveries_announce, notifications_reminders
from .reminders import SEND, WAIT, reminder_decide

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
    """What a reminder notice is written from. ``offset_minutes`` is the time really
    left when it is sent (see ``sweep_reminders``), which the notice states."""

    reminder_id: int
    ticket_id: int
    offset_minutes: int
    store_id: int
    number: str
    due_at: datetime
    recipient_id: int | None


class DueReminder(NamedTuple):
    """A due pending reminder as the sweep reads it: the notice's fields, then what
    ``reminder_decide`` needs."""

    reminder_id: int
    ticket_id: int
    offset_minutes: int
    store_id: int
    number: str
    due_at: datetime
    recipient_id: int | None
    fire_at: datetime
    superseded: bool
    created_at: datetime
    clock: str
    calendar_id: int | None


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
    of its row is what makes it once, whatever runs twice or dies midway.

    After a gap (an outage, a beat restart, a ticket that arrived after its reminder
    instant) a due reminder may instead be skipped or left waiting for the ticket's
    next working hours: ``reminder_decide`` says which. Returns (sent, batches)."""
    # A later due reminder of the same ticket makes this one stale (only the nearest
    # goes out). Pending only: one already sent or skipped says nothing about this one.
    # Equal instants: the smaller offset is the nearer one.
    nearer_due = Reminder.objects.filter(
        ticket_id=OuterRef("ticket_id"), status=Reminder.Status.PENDING, fire_at__lte=now
    ).filter(
        Q(fire_at__gt=OuterRef("fire_at"))
        | Q(fire_at=OuterRef("fire_at"), offset_minutes__lt=OuterRef("offset_minutes"))
    )
    sent = 0

    def step(limit: int) -> int:
        nonlocal sent
        due = [
            DueReminder(*values)
            for values in Reminder.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=Reminder.Status.PENDING,
                fire_at__lte=now,
                ticket__state=TicketState.OPEN,
                ticket__due_at__gt=now,
            )
            .annotate(superseded=Exists(nearer_due))
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
                "fire_at",
                "superseded",
                "ticket__created_at",
                "ticket__policy__clock",
                "ticket__policy__calendar_id",
            )[:limit]
        ]
        if not due:
            return 0
        schedules = _schedules(
            {row.calendar_id for row in due if row.clock == sla.WORKING}, now=now
        )
        rows: list[ReminderRow] = []
        planned: dict[int, int] = {}
        skipped: list[int] = []
        waiting: dict[datetime, list[int]] = {}
        for row in due:
            decision = reminder_decide(
                now=now,
                fire_at=row.fire_at,
                ticket_created_at=row.created_at,
                due_at=row.due_at,
                superseded=row.superseded,
                clock=row.clock,
                schedule=schedules.get(row.calendar_id),
            )
            if decision.action == SEND:
                # The notice states the minutes really left (rounded down: never more
                # time than there is), not the offset the reminder was planned for.
                left = int(decision.left.total_seconds() // 60)
                rows.append(ReminderRow(*row[:7])._replace(offset_minutes=left))
                planned[row.reminder_id] = row.offset_minutes
            elif decision.action == WAIT:
                waiting.setdefault(decision.until, []).append(row.reminder_id)
            else:
                skipped.append(row.reminder_id)
        update_by_ids(Reminder, skipped, status=Reminder.Status.SKIPPED)
        if waiting:
            # Moving fire_at to the next opening takes the row out of the due set until
            # then (no re-reading every minute all night). One UPDATE: the openings are
            # few (one per working calendar in the batch), whatever the row count.
            Reminder.objects.filter(pk__in=[pk for ids in waiting.values() for pk in ids]).update(
                fire_at=Case(
                    *(When(pk__in=ids, then=Value(until)) for until, ids in waiting.items()),
                    output_field=DateTimeField(),
                )
            )
        if rows:
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
                        {
                            "reminder": row.reminder_id,
                            "minutes_before_due": row.offset_minutes,
                            "planned_minutes_before_due": planned[row.reminder_id],
                        },
                    )
                    for row in rows
                ),
            )
            stores = Store.objects.in_bulk({row.store_id for row in rows})
            deliveries_announce(notifications_reminders(rows=rows, stores=stores, now=now))
        if skipped or waiting:
            logger.info(
                "Reminders at %s: %d skipped, %d waiting for working hours",
                now.isoformat(),
                len(skipped),
                sum(len(ids) for ids in waiting.values()),
            )
        sent += len(rows)
        return len(due)

    _total, batches = _batches(step, batch_size=batch_size)
    return sent, batches


def _schedules(calendar_ids: set[int | None], *, now: datetime) -> dict:
    """The working schedules of a batch's calendars: two queries, however many rows.
    Only exceptions from the day before ``now`` on matter (time left, next opening)."""
    ids = {pk for pk in calendar_ids if pk is not None}
    if not ids:
        return {}
    calendars = WorkingCalendar.objects.prefetch_related(
        Prefetch(
            "exceptions",
            queryset=CalendarException.objects.filter(date__gte=(now - timedelta(days=1)).date()),
        )
    ).in_bulk(ids)
    return {pk: calendar.to_schedule() for pk, calendar in calendars.items()}


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

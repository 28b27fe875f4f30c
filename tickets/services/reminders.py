"""Each ticket's reminder rows: made from its policy, moved with its deadline, cancelled,
and what a due one becomes when the sweep finds it (sent, left waiting, skipped)."""

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from .. import sla
from ..bulk import update_by_ids
from ..models import Reminder, Ticket


def reminders_for(*, ticket: Ticket) -> list[Reminder]:
    """The ticket's reminders from its policy, unsaved. A working-clock reminder
    falls inside working time (never at night: Zammad #4432)."""
    policy = ticket.policy
    schedule = policy.schedule()
    return [
        Reminder(
            ticket=ticket,
            offset_minutes=int(offset.total_seconds() // 60),
            fire_at=sla.reminder_at(
                due_at=ticket.due_at, offset=offset, clock=policy.clock, schedule=schedule
            ),
        )
        for offset in policy.reminder_offsets
    ]


def reminders_reschedule(*, ticket: Ticket) -> None:
    """After the deadline moved (an exemption), move the reminders not yet sent."""
    fire_at = {r.offset_minutes: r.fire_at for r in reminders_for(ticket=ticket)}
    pending = list(ticket.reminders.filter(status=Reminder.Status.PENDING))
    for reminder in pending:
        reminder.fire_at = fire_at.get(reminder.offset_minutes, reminder.fire_at)
    Reminder.objects.bulk_update(pending, ["fire_at"])


def reminders_cancel(*, ticket_ids: list[int]) -> None:
    """A ticket that leaves open (replied, escalated) gets none of its pending reminders."""
    update_by_ids(
        Reminder,
        ticket_ids,
        match="ticket",
        where={"status": Reminder.Status.PENDING},
        status=Reminder.Status.CANCELLED,
    )


# --- late sweeps (issue 13): what a due reminder becomes -----------------------------------


class ReminderDecision(NamedTuple):
    """``send`` with the time ``left``; ``wait`` until ``until``; or ``skip``."""

    action: str
    left: timedelta | None = None
    until: datetime | None = None


SEND, WAIT, SKIP = "send", "wait", "skip"


def reminder_decide(
    *,
    now: datetime,
    fire_at: datetime,
    ticket_created_at: datetime,
    due_at: datetime,
    superseded: bool,
    clock: str,
    schedule: sla.WorkingSchedule | None,
) -> ReminderDecision:
    """What a pending reminder that is due at ``now`` (of an open ticket, before its
    deadline) becomes. Pure: the sweep reads the rows and writes the outcome.

    When sweeps resume after a gap (an outage, a beat restart) several reminders of a
    ticket can be due at once, some planned for instants nobody can send at any more.
    """
    # Only the nearest due reminder of a ticket goes out: three notices at once, two of
    # them claiming more time than is left, are noise (Zammad #4348: remind once).
    if superseded:
        return ReminderDecision(SKIP)
    # An instant before the ticket existed (a backdated intake) was never a reminder
    # the merchant could get; the intake notice already states the deadline.
    if fire_at < ticket_created_at:
        return ReminderDecision(SKIP)
    if clock == sla.WORKING:
        schedule = schedule or sla.WorkingSchedule()
        # A working-clock reminder falls inside working time, even when the sweep that
        # finds it runs at night (Zammad #4432): it waits for the next opening…
        if not sla.is_working_time(instant=now, schedule=schedule):
            start, _end = next(sla.working_intervals(start=now, schedule=schedule))
            opening = start.astimezone(UTC)
            # …unless the deadline comes first: then no working time is left to remind
            # about, and the escalation sweep takes the ticket over.
            if opening >= due_at:
                return ReminderDecision(SKIP)
            return ReminderDecision(WAIT, until=opening)
    # The notice states the time really left on the ticket's own clock, not the offset
    # it was planned for (a -4 h reminder sent 1 h before the deadline says 1 h).
    left = sla.remaining(now=now, due_at=due_at, clock=clock, schedule=schedule)
    if left <= timedelta(0):
        return ReminderDecision(SKIP)
    return ReminderDecision(SEND, left=left)

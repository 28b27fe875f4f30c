"""Each ticket's reminder rows: made from its policy, moved with its deadline, cancelled."""

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

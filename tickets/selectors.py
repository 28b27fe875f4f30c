"""Reads: querysets and derived values for pages, admin and sweeps."""

from datetime import datetime, timedelta

from django.db.models import QuerySet

from . import sla
from .models import Ticket, TicketState


def tickets_with_clock(queryset: QuerySet[Ticket] | None = None) -> QuerySet[Ticket]:
    """Tickets with what their SLA clock needs (store, policy, calendar and its
    exceptions) loaded in a fixed number of queries, whatever the row count."""
    queryset = Ticket.objects.all() if queryset is None else queryset
    return queryset.select_related("store", "policy__calendar").prefetch_related(
        "policy__calendar__exceptions"
    )


def ticket_remaining(*, ticket: Ticket, now: datetime) -> timedelta:
    """Time left to reply: working time for a working clock (it pauses outside hours)."""
    return sla.remaining(
        now=now, due_at=ticket.due_at, clock=ticket.policy.clock, schedule=ticket.policy.schedule()
    )


def ticket_clock_paused(*, ticket: Ticket, now: datetime) -> bool:
    """True while an open working-clock ticket waits for working hours to resume."""
    schedule = ticket.policy.schedule()
    if schedule is None or ticket.state != TicketState.OPEN:
        return False
    return not sla.is_working_time(instant=now, schedule=schedule)


def tickets_overdue(*, now: datetime) -> QuerySet[Ticket]:
    """Open tickets past their deadline (an index range scan on (state, due_at))."""
    return Ticket.objects.filter(state=TicketState.OPEN, due_at__lt=now)


def format_remaining(value: timedelta) -> str:
    """'3h 05m', or '-1h 10m' once overdue: compact enough for a list column."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    minutes = abs(seconds) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{sign}{days}d {hours}h {minutes:02d}m"
    return f"{sign}{hours}h {minutes:02d}m"

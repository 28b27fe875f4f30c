"""Reads: querysets and derived values for pages, admin and sweeps."""

from datetime import datetime, timedelta
from typing import NamedTuple

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import pgettext

from . import sla
from .models import (
    ContactAttempt,
    EventAction,
    Evidence,
    ExemptionRequest,
    Ticket,
    TicketEvent,
    TicketState,
)


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
    parts = {"days": days, "hours": hours, "minutes": minutes}
    if days:
        return sign + pgettext("time left", "%(days)dd %(hours)dh %(minutes)02dm") % parts
    return sign + pgettext("time left", "%(hours)dh %(minutes)02dm") % parts


# --- the merchant dashboard -------------------------------------------------------------

INBOX_PAGE_SIZE = 25


def inbox_tickets(*, store, user, filters: dict, created_range, now: datetime) -> QuerySet[Ticket]:
    """The store's tickets for the inbox: CRC high-risk first, soonest due first."""
    queryset = Ticket.objects.filter(store=store)
    if filters.get("state"):
        queryset = queryset.filter(state=filters["state"])
    if filters.get("kind"):
        queryset = queryset.filter(kind=filters["kind"])
    if filters.get("overdue"):
        queryset = queryset.filter(state=TicketState.OPEN, due_at__lt=now)
    if filters.get("mine"):
        queryset = queryset.filter(assignee=user)
    if filters.get("q"):
        term = filters["q"].strip()
        queryset = queryset.filter(Q(number__istartswith=term) | Q(order_number__istartswith=term))
    start, end = created_range
    if start:
        queryset = queryset.filter(created_at__gte=start)
    if end:
        queryset = queryset.filter(created_at__lt=end)
    return (
        tickets_with_clock(queryset)
        .select_related("assignee")
        .order_by("-priority", "due_at", "pk")
    )


class TicketClock(NamedTuple):
    """What the countdown shows for one ticket at one instant."""

    remaining: timedelta
    text: str
    paused: bool
    urgency: str  # "overdue" | "critical" (< 1 h) | "warning" (< 25 % left) | "ok" | "done"


def ticket_clock(*, ticket: Ticket, now: datetime) -> TicketClock:
    if ticket.state != TicketState.OPEN:
        return TicketClock(timedelta(0), "—", False, "done")
    remaining = ticket_remaining(ticket=ticket, now=now)
    paused = ticket_clock_paused(ticket=ticket, now=now)
    if remaining <= timedelta(0):
        urgency = "overdue"
    elif remaining < timedelta(hours=1):
        urgency = "critical"
    elif remaining < ticket.policy.window / 4:
        urgency = "warning"
    else:
        urgency = "ok"
    return TicketClock(remaining, format_remaining(remaining), paused, urgency)


def store_members(*, store) -> list:
    return list(store.memberships.select_related("user").order_by("role", "user__username"))


def ticket_detail(*, ticket_id: int, store) -> Ticket:
    """One ticket with everything its page shows, in a fixed number of queries."""
    return (
        tickets_with_clock(Ticket.objects.filter(pk=ticket_id, store=store))
        .select_related("assignee", "merchant_reply__option", "merchant_reply__replied_by")
        .prefetch_related(
            Prefetch(
                "events",
                # Staff notes are the platform's own; the store never sees them.
                queryset=TicketEvent.objects.exclude(action=EventAction.STAFF_NOTE)
                .select_related("actor")
                .order_by("at", "pk"),
            ),
            Prefetch("contacts", queryset=ContactAttempt.objects.select_related("logged_by")),
            Prefetch("evidence", queryset=Evidence.objects.select_related("uploaded_by")),
            Prefetch("exemptions", queryset=ExemptionRequest.objects.order_by("-requested_at")),
        )
        .get()
    )

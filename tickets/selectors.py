"""Reads: querysets and derived values for pages, admin and sweeps."""

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from merchants.clock import SHANGHAI

from . import sla
from .durations import format_local, format_offset
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


# --- the merchant dashboard (the work queue itself: tickets/queue.py) --------------------


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


def ticket_by_number(*, number: str, queryset: QuerySet[Ticket] | None = None) -> Ticket | None:
    """The ticket with this platform number (from ``queryset``), or None. No ticket number
    holds NUL, and PostgreSQL refuses it even in a WHERE: such a number finds nothing."""
    if "\x00" in number:
        return None
    if queryset is None:
        queryset = Ticket.objects.select_related("store")
    return queryset.filter(number=number).first()


def store_members(*, store) -> list:
    return list(store.memberships.select_related("user").order_by("role", "user__username"))


def ticket_detail(*, ticket_id: int, store) -> Ticket | None:
    """One of the store's tickets with everything its page shows, in a fixed number of
    queries; None when the store has no such ticket."""
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
        .first()
    )


# --- the ticket's timeline --------------------------------------------------------------


class TimelineEntry(NamedTuple):
    """One event of a ticket's timeline as the merchant reads it."""

    at: datetime
    action: str
    label: str
    change: str  # "Escalated → Judged", "→ Open", or "" when the state did not move
    actor: str  # "" when the system acted
    details: tuple[str, ...]  # the decision's facts: liability, refund, points, file, deadline
    reason: str  # the event's reason, introduced by whose it is for a decision


def yuan(value) -> str:
    """An amount the event recorded as text ("0", "59.9"), shown with two decimals."""
    try:
        return f"{Decimal(str(value)):.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


# arbitration.models.Severity's labels (tickets never imports arbitration): the same
# msgids, so the catalogue translates them once.
FORGED_SEVERITY = {
    "general": "General violation (一般违规)",
    "serious": "Serious violation (严重违规)",
}


def timeline_entries(*, ticket: Ticket) -> list[TimelineEntry]:
    """The events of a ``ticket_detail`` ticket, the platform's decisions spelled out
    with their reasoning.

    Reads only what ``ticket_detail`` prefetched (the events with their actors, and
    the evidence for a forged file's name): no query per event.
    """
    files = {item.pk: item.original_name for item in ticket.evidence.all()}
    entries = []
    for event in ticket.events.all():
        payload = event.payload or {}
        details: list[str] = []
        reason = event.reason
        if event.action == EventAction.JUDGED:
            liable = payload.get("merchant_liable")
            details.append(
                _("The merchant is liable") if liable else _("The merchant is not liable")
            )
            if payload.get("refund_amount") is not None:
                amount = yuan(payload["refund_amount"])
                details.append(_("Refund: %(amount)s CNY") % {"amount": amount})
            reason = reason and _("The platform's reasoning: %(reasoning)s") % {"reasoning": reason}
        elif event.action == EventAction.COMPENSATED:
            if payload.get("amount") is not None:
                amount = yuan(payload["amount"])
                details.append(_("Compensation: %(amount)s CNY") % {"amount": amount})
            reason = reason and _("The platform's note: %(note)s") % {"note": reason}
        elif event.action == EventAction.EVIDENCE_FORGED:
            if payload.get("severity") in FORGED_SEVERITY:
                details.append(_(FORGED_SEVERITY[payload["severity"]]))
            if payload.get("points") is not None:
                details.append(
                    _("%(points)d violation points on the store") % {"points": payload["points"]}
                )
            if payload.get("evidence") is not None:
                name = files.get(payload["evidence"]) or f"#{payload['evidence']}"
                details.append(_("File: %(name)s") % {"name": name})
            reason = reason and _("The platform's reasoning: %(reasoning)s") % {"reasoning": reason}
        elif event.action == EventAction.EXEMPTION_GRANTED:
            if payload.get("minutes"):
                details.append(_("Granted: %(time)s") % {"time": format_offset(payload["minutes"])})
            if payload.get("new_due_at"):
                due = datetime.fromisoformat(payload["new_due_at"])
                details.append(
                    _("New due time: %(due)s (Beijing time)") % {"due": format_local(due, SHANGHAI)}
                )
            reason = reason and _("The platform's note: %(note)s") % {"note": reason}
        elif event.action == EventAction.EXEMPTION_REJECTED:
            reason = reason and _("The platform's reasoning: %(reasoning)s") % {"reasoning": reason}
        elif event.action == EventAction.APPEAL_FILED:
            reason = reason and _("The store's statement: %(statement)s") % {"statement": reason}
        elif event.action in (EventAction.APPEAL_UPHELD, EventAction.APPEAL_OVERTURNED):
            if payload.get("points_removed"):
                details.append(
                    _("%(points)d violation points removed") % {"points": payload["points_removed"]}
                )
            reason = reason and _("The platform's reasoning: %(reasoning)s") % {"reasoning": reason}
        elif event.action == EventAction.ESCALATED and payload.get("objection"):
            # CS escalated a replied ticket because the consumer objects (ticket_escalate).
            reason = reason and _("The consumer's objection: %(reason)s") % {"reason": reason}
        change = ""
        if event.to_state and event.to_state != event.from_state:
            to_label = event.get_to_state_display()
            change = (
                f"{event.get_from_state_display()} → {to_label}"
                if event.from_state
                else f"→ {to_label}"
            )
        entries.append(
            TimelineEntry(
                at=event.at,
                action=event.action,
                label=str(event.get_action_display()),
                change=change,
                actor=event.actor.get_username() if event.actor_id else "",
                details=tuple(details),
                reason=reason,
            )
        )
    return entries

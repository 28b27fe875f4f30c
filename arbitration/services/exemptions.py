"""Ops' decision on a store's exemption request: grant (the deadline moves) or reject."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.clock import SHANGHAI
from tickets.durations import format_local, format_offset
from tickets.models import ExemptionRequest, NotificationKind, TicketState
from tickets.services.common import require_perm, require_state, ticket_event_write, ticket_lock
from tickets.services.exemptions import exemption_minutes_valid, ticket_extend_due
from tickets.services.notifications import merchant_language, notifications_decision
from tickets.services.reminders import reminders_reschedule


def exemption_grant(
    *,
    request: ExemptionRequest,
    user: AbstractBaseUser,
    minutes: int | None = None,
    note: str = "",
    now: datetime | None = None,
) -> ExemptionRequest:
    """Ops grant an exemption: the ticket's due_at moves on by the granted minutes
    (on the ticket's own clock)."""
    now = now or timezone.now()
    require_perm(user, "tickets.decide_exemption")
    with transaction.atomic():
        ticket = ticket_lock(ticket=request.ticket)
        request = ExemptionRequest.objects.select_for_update().get(pk=request.pk)
        _require_pending(request)
        granted = request.requested_minutes if minutes is None else minutes
        if not exemption_minutes_valid(granted):
            raise ValidationError({"minutes": _("Grant between 1 minute and 7 days.")})
        # An escalated ticket has already left the merchant's hands; time cannot be given back.
        require_state(ticket, TicketState.OPEN)
        old_due = ticket.due_at
        ticket.due_at = ticket_extend_due(ticket=ticket, minutes=granted)
        ticket.save(update_fields=["due_at", "updated_at"])
        reminders_reschedule(ticket=ticket)
        request.status = ExemptionRequest.Status.GRANTED
        request.granted_minutes = granted
        request.decided_by = user
        request.decided_at = now
        request.decision_note = note.strip()
        request.save()
        event = ticket_event_write(
            ticket=ticket,
            action="exemption_granted",
            actor=user,
            at=now,
            reason=note.strip(),
            payload={
                "exemption": request.pk,
                "minutes": granted,
                "old_due_at": old_due.isoformat(),
                "new_due_at": ticket.due_at.isoformat(),
            },
        )
        with merchant_language():
            facts = {
                "number": ticket.number,
                "granted": format_offset(granted),
                "due": format_local(ticket.due_at, SHANGHAI),
                "note": request.decision_note,
            }
            body = (
                _(
                    "The platform granted your exemption request: %(granted)s more. "
                    "Reply to ticket %(number)s before %(due)s (Beijing time)."
                )
                % facts
            )
            if facts["note"]:
                body += " " + _("The platform's note: %(note)s") % facts
            notifications_decision(
                ticket=ticket,
                kind=NotificationKind.EXEMPTION,
                cause=event.pk,
                title=_("Ticket %(number)s: exemption granted, new due time %(due)s") % facts,
                body=body,
                now=now,
            )
    return request


def exemption_reject(
    *, request: ExemptionRequest, user: AbstractBaseUser, note: str, now: datetime | None = None
) -> ExemptionRequest:
    now = now or timezone.now()
    require_perm(user, "tickets.decide_exemption")
    note = note.strip()
    if not note:
        raise ValidationError({"note": _("Tell the store why the request is rejected.")})
    with transaction.atomic():
        ticket = ticket_lock(ticket=request.ticket)
        request = ExemptionRequest.objects.select_for_update().get(pk=request.pk)
        _require_pending(request)
        request.status = ExemptionRequest.Status.REJECTED
        request.decided_by = user
        request.decided_at = now
        request.decision_note = note
        request.save()
        event = ticket_event_write(
            ticket=ticket,
            action="exemption_rejected",
            actor=user,
            at=now,
            reason=note,
            payload={"exemption": request.pk},
        )
        with merchant_language():
            facts = {
                "number": ticket.number,
                "note": note,
                "due": format_local(ticket.due_at, SHANGHAI),
            }
            body = " ".join(
                (
                    _("The platform rejected your exemption request."),
                    _("The platform's reasoning: %(reasoning)s") % {"reasoning": note},
                )
            )
            if ticket.state == TicketState.OPEN:
                body += " " + _("The deadline stays %(due)s (Beijing time).") % facts
            notifications_decision(
                ticket=ticket,
                kind=NotificationKind.EXEMPTION,
                cause=event.pk,
                title=_("Ticket %(number)s: exemption request rejected") % facts,
                body=body,
                now=now,
            )
    return request


def _require_pending(request: ExemptionRequest) -> None:
    if request.status != ExemptionRequest.Status.PENDING:
        raise ValidationError(
            _("This exemption request has already been decided."), code="already_decided"
        )

"""A store's request for more time (免责申请) and the deadline arithmetic of a grant."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.services import store_check_member

from .. import sla
from ..models import ExemptionRequest, Ticket, TicketState
from .common import require_state, ticket_event_write, ticket_lock

MAX_EXEMPTION_MINUTES = 7 * 24 * 60


def exemption_minutes_valid(minutes) -> bool:
    """An exemption, asked or granted, lasts from 1 minute to 7 days."""
    return isinstance(minutes, int) and 1 <= minutes <= MAX_EXEMPTION_MINUTES


def exemption_request(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    reason: str,
    minutes: int,
    now: datetime | None = None,
) -> ExemptionRequest:
    """A store hit by an outage (power cut and the like) asks for more time (JD, SPEC.md)."""
    now = now or timezone.now()
    reason = reason.strip()
    problems = {}
    if not reason:
        problems["reason"] = _("Describe what stopped the store from replying.")
    if not exemption_minutes_valid(minutes):
        problems["minutes"] = _("Ask for between 1 minute and 7 days.")
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        store_check_member(user=user, store=ticket.store)
        require_state(ticket, TicketState.OPEN)
        if ticket.exemptions.filter(status=ExemptionRequest.Status.PENDING).exists():
            raise ValidationError(
                _("An exemption request for this ticket is already waiting for a decision."),
                code="exemption_pending",
            )
        request = ExemptionRequest.objects.create(
            ticket=ticket,
            reason=reason,
            requested_minutes=minutes,
            requested_by=user,
            requested_at=now,
        )
        ticket_event_write(
            ticket=ticket,
            action="exemption_requested",
            actor=user,
            at=now,
            reason=reason,
            payload={"exemption": request.pk, "minutes": minutes},
        )
    return request


def ticket_extend_due(*, ticket: Ticket, minutes: int) -> datetime:
    """The deadline moved on by ``minutes`` on the ticket's own clock (working
    minutes for a working clock, so an extension never lands in the night)."""
    policy = ticket.policy
    return sla.compute_due_at(
        created_at=ticket.due_at,
        window=timedelta(minutes=minutes),
        clock=policy.clock,
        schedule=policy.schedule(),
    )

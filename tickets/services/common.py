"""Mechanics every ticket rule shares: the row lock, the event row, refusals."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ..models import Ticket, TicketEvent, TicketState
from ..signals import tickets_changed


def field_error(field: str, message: str, *, code: str) -> ValidationError:
    """A refusal tied to one input field, keeping its code (forms show it by the field)."""
    return ValidationError({field: ValidationError(message, code=code)})


def ticket_lock(*, ticket: Ticket) -> Ticket:
    """The ticket row, re-read under a row lock (call inside transaction.atomic).

    Every service that changes a ticket takes this lock first, so a merchant's
    reply and the deadline sweep (or two staff) serialise: the second one sees
    the first one's state and is refused, never both applied.
    """
    return Ticket.objects.select_for_update().select_related("store", "policy").get(pk=ticket.pk)


EVENT_FIELDS = ("ticket", "action", "from_state", "to_state", "actor", "at", "reason", "payload")


def ticket_event_write(
    *,
    ticket: Ticket,
    action: str,
    actor: AbstractBaseUser | None,
    at: datetime,
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    payload: dict | None = None,
) -> TicketEvent:
    event = TicketEvent.objects.create(
        ticket=ticket,
        action=action,
        actor=actor,
        at=at,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        payload=payload or {},
    )
    stores_changed_announce([ticket.store_id])
    return event


def stores_changed_announce(store_ids) -> None:
    """Say, once the transaction commits, that these stores' tickets changed (their
    open dashboards refresh). Who listens is not this module's business."""
    ids = sorted(set(store_ids))
    if ids:
        transaction.on_commit(lambda: tickets_changed.send(sender=Ticket, store_ids=ids))


def ticket_transition(
    ticket: Ticket,
    name: str,
    *,
    actor: AbstractBaseUser | None,
    now: datetime,
    action: str,
    reason: str = "",
    payload: dict | None = None,
) -> TicketEvent:
    """Fire transition ``name`` on a locked ticket, save it and record the event."""
    from_state = ticket.state
    getattr(ticket, name)()
    ticket.save()
    return ticket_event_write(
        ticket=ticket,
        action=action,
        actor=actor,
        at=now,
        from_state=from_state,
        to_state=ticket.state,
        reason=reason,
        payload=payload,
    )


def require_state(ticket: Ticket, *states: str) -> None:
    if ticket.state not in states:
        raise ValidationError(
            _("Ticket %(number)s is %(state)s; this needs it %(needed)s.")
            % {
                "number": ticket.number,
                "state": TicketState(ticket.state).label,
                "needed": " / ".join(str(TicketState(s).label) for s in states),
            },
            code="wrong_state",
        )


def require_perm(user: AbstractBaseUser | None, perm: str) -> None:
    if user is None or not user.is_active or not user.has_perm(perm):
        raise PermissionDenied(_("You are not allowed to do this."))


# Tickets on which merchants may still add contacts and evidence.
WORKABLE_STATES = (TicketState.OPEN, TicketState.REPLIED, TicketState.ESCALATED)

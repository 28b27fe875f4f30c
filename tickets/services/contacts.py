"""The store's log of attempts to reach the consumer."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.services import store_check_member

from ..models import ContactAttempt, ContactChannel, Evidence, Ticket
from .common import WORKABLE_STATES, field_error, require_state, ticket_event_write, ticket_lock


def contact_log(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    channel: str,
    attempted_at: datetime,
    note: str = "",
    proof: Evidence | None = None,
    now: datetime | None = None,
) -> ContactAttempt:
    """Record an attempt to reach the consumer.

    An attempt dated before the ticket was created is kept but flagged: it does
    not count toward a reply (the Taobao seed says so explicitly).
    """
    now = now or timezone.now()
    if channel not in ContactChannel.values:
        raise field_error("channel", _("Choose a contact channel."), code="channel")
    if timezone.is_naive(attempted_at):
        raise field_error("attempted_at", _("Give the time with its time zone."), code="naive")
    # A few minutes of clock skew between the merchant's device and the server are fine.
    if attempted_at > now + timedelta(minutes=5):
        raise field_error(
            "attempted_at", _("A contact attempt cannot be in the future."), code="future"
        )
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        store_check_member(user=user, store=ticket.store)
        require_state(ticket, *WORKABLE_STATES)
        if proof is not None and proof.ticket_id != ticket.pk:
            raise field_error("proof", _("The proof file belongs to another ticket."), code="proof")
        counts = attempted_at >= ticket.created_at
        contact = ContactAttempt.objects.create(
            ticket=ticket,
            channel=channel,
            attempted_at=attempted_at,
            note=note.strip(),
            proof=proof,
            counts=counts,
            logged_by=user,
            logged_at=now,
        )
        ticket_event_write(
            ticket=ticket,
            action="contact_logged",
            actor=user,
            at=now,
            reason="" if counts else _("Made before the ticket was created: does not count."),
            payload={
                "contact": contact.pk,
                "channel": channel,
                "attempted_at": attempted_at.isoformat(),
                "counts": counts,
            },
        )
    return contact

"""Opening tickets: the policy, the deadline, idempotent intake from the platform."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.models import Platform, Store
from merchants.services import store_check_ticket_eligibility

from .. import sla
from ..models import Category, Policy, Reminder, Ticket, TicketKind, TicketState
from .common import ticket_event_write
from .reminders import reminders_for
from .team import round_robin_next


def policy_for(*, platform: str, kind: str) -> Policy:
    try:
        return Policy.objects.select_related("calendar").get(
            platform=platform, kind=kind, is_active=True
        )
    except Policy.DoesNotExist:
        raise ValidationError(
            _("No active reply policy for %(platform)s / %(kind)s.")
            % {"platform": platform, "kind": kind},
            code="no_policy",
        ) from None


def ticket_compute_due_at(*, policy: Policy, created_at: datetime) -> datetime:
    return sla.compute_due_at(
        created_at=created_at, window=policy.window, clock=policy.clock, schedule=policy.schedule()
    )


def ticket_open(
    *,
    store: Store,
    number: str,
    order_number: str,
    summary: str,
    kind: str = TicketKind.NORMAL,
    category: str = Category.OTHER,
    worry_free: bool = False,
    consumer_name: str = "",
    consumer_phone: str = "",
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> tuple[Ticket, bool]:
    """Open a ticket against ``store``; returns (ticket, created).

    Idempotent on the platform ticket number: the platform's CS system retries,
    so the same number again returns the ticket already opened, unchanged.
    """
    existing = Ticket.objects.filter(number=number).first()
    if existing is not None:
        return _same_ticket_or_conflict(existing, store=store), False

    store_check_ticket_eligibility(store=store)
    if kind == TicketKind.CRC_HIGH_RISK and store.platform != Platform.JD:
        raise ValidationError(_("CRC high-risk complaints exist on JD only."), code="crc_not_jd")
    if kind not in TicketKind.values:
        raise ValidationError(_("Unknown ticket kind %(kind)s.") % {"kind": kind}, code="kind")
    if category not in Category.values:
        raise ValidationError(
            _("Unknown category %(category)s.") % {"category": category}, code="category"
        )
    created_at = now or timezone.now()
    policy = policy_for(platform=store.platform, kind=kind)
    ticket = Ticket(
        number=number,
        store=store,
        policy=policy,
        order_number=order_number,
        kind=kind,
        worry_free=worry_free,
        category=category,
        summary=summary,
        consumer_name=consumer_name,
        consumer_phone=consumer_phone,
        created_at=created_at,
        due_at=ticket_compute_due_at(policy=policy, created_at=created_at),
        priority=Ticket.PRIORITY_CRC
        if kind == TicketKind.CRC_HIGH_RISK
        else Ticket.PRIORITY_NORMAL,
    )
    ticket.full_clean(exclude=["state", "store", "policy"], validate_unique=False)
    try:
        with transaction.atomic():
            if store.round_robin:
                ticket.assignee_id = round_robin_next(store=store)
            ticket.save()
            Reminder.objects.bulk_create(reminders_for(ticket=ticket))
            ticket_event_write(
                ticket=ticket,
                action="opened",
                to_state=TicketState.OPEN,
                actor=actor,
                at=created_at,
                payload={"due_at": ticket.due_at.isoformat(), "policy": policy.pk},
            )
    except IntegrityError:
        # Two deliveries of the same number raced; the other one won.
        existing = Ticket.objects.filter(number=number).first()
        if existing is None:
            raise
        return _same_ticket_or_conflict(existing, store=store), False
    return ticket, True


def _same_ticket_or_conflict(ticket: Ticket, *, store: Store) -> Ticket:
    if ticket.store_id != store.pk:
        raise ValidationError(
            _("Ticket number %(number)s already belongs to another store.")
            % {"number": ticket.number},
            code="number_conflict",
        )
    return ticket

"""The platform's decision on an escalated ticket: a judgment (纠纷判责) or compensation."""

from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tickets.models import NotificationKind, Ticket, TicketState
from tickets.services.common import require_perm, require_state, ticket_lock, ticket_transition
from tickets.services.notifications import merchant_language, notifications_decision

from ..models import Compensation, Judgment


def _amount(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: _("Enter an amount in yuan.")}) from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValidationError({field: _("Enter an amount of at least 0 with at most 2 decimals.")})
    return amount


def ticket_judge(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    merchant_liable: bool,
    refund_amount,
    reasoning: str,
    now: datetime | None = None,
) -> Judgment:
    """纠纷判责 on an escalated ticket. A liable judgment counts toward the store's
    dispute-refund rate; worry-free (无忧购) tickets are never judged (SPEC.md)."""
    now = now or timezone.now()
    require_perm(user, "tickets.judge_ticket")
    amount = _amount(refund_amount, "refund_amount")
    reasoning = reasoning.strip()
    if not reasoning:
        raise ValidationError({"reasoning": _("Give the reasoning for the judgment.")})
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        require_state(ticket, TicketState.ESCALATED)
        if ticket.worry_free:
            raise ValidationError(
                _("Worry-free orders are not judged: close them with compensation."),
                code="worry_free",
            )
        judgment = Judgment.objects.create(
            ticket=ticket,
            merchant_liable=merchant_liable,
            refund_amount=amount,
            reasoning=reasoning,
            judged_by=user,
            judged_at=now,
        )
        event = ticket_transition(
            ticket,
            "judge",
            actor=user,
            now=now,
            action="judged",
            reason=reasoning,
            payload={"merchant_liable": merchant_liable, "refund_amount": str(amount)},
        )
        with merchant_language():
            notifications_decision(
                ticket=ticket,
                kind=NotificationKind.JUDGED,
                cause=event.pk,
                title=(
                    _("Ticket %(number)s judged: merchant liable, refund %(amount)s CNY")
                    if merchant_liable
                    else _("Ticket %(number)s judged: merchant not liable, refund %(amount)s CNY")
                )
                % {"number": ticket.number, "amount": f"{amount:.2f}"},
                body=_("The platform's reasoning: %(reasoning)s") % {"reasoning": reasoning},
                now=now,
            )
    return judgment


def ticket_compensate(
    *,
    ticket: Ticket,
    user: AbstractBaseUser,
    amount,
    note: str = "",
    now: datetime | None = None,
) -> Compensation:
    """Close an escalated worry-free ticket by its compensation standard: no judgment,
    no effect on the dispute rate."""
    now = now or timezone.now()
    require_perm(user, "tickets.compensate_ticket")
    value = _amount(amount, "amount")
    with transaction.atomic():
        ticket = ticket_lock(ticket=ticket)
        require_state(ticket, TicketState.ESCALATED)
        if not ticket.worry_free:
            raise ValidationError(
                _("Only worry-free orders are compensated; judge this ticket instead."),
                code="not_worry_free",
            )
        compensation = Compensation.objects.create(
            ticket=ticket, amount=value, note=note.strip(), decided_by=user, decided_at=now
        )
        ticket_transition(
            ticket,
            "compensate",
            actor=user,
            now=now,
            action="compensated",
            reason=note.strip(),
            payload={"amount": str(value)},
        )
    return compensation

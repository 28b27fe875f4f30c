"""The platform's decisions: judgments, compensation, forged evidence, exemptions.

State changes go through the tickets services' mechanics (row lock, FSM
transition, event in the same transaction); this module adds the platform's
rules and records.
"""

from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tickets.models import Evidence, ExemptionRequest, Ticket, TicketState
from tickets.services import (
    exemption_minutes_valid,
    reminders_reschedule,
    require_perm,
    require_state,
    ticket_event_write,
    ticket_extend_due,
    ticket_lock,
    ticket_transition,
)

from .models import VIOLATION_POINTS, Compensation, Judgment, Severity, Violation


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
        ticket_transition(
            ticket,
            "judge",
            actor=user,
            now=now,
            action="judged",
            reason=reasoning,
            payload={"merchant_liable": merchant_liable, "refund_amount": str(amount)},
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


def evidence_mark_forged(
    *,
    evidence: Evidence,
    user: AbstractBaseUser,
    severity: str,
    note: str = "",
    now: datetime | None = None,
) -> Violation:
    """凭证造假: 12 points (general) or 48 points (serious) on the store, each time
    a forged file is found; one finding per file."""
    now = now or timezone.now()
    require_perm(user, "tickets.mark_evidence_forged")
    if severity not in Severity.values:
        raise ValidationError({"severity": _("Choose general or serious.")})
    with transaction.atomic():
        ticket = ticket_lock(ticket=evidence.ticket)
        evidence = Evidence.objects.select_for_update().get(pk=evidence.pk)
        if Violation.objects.filter(evidence=evidence).exists():
            raise ValidationError(
                _("This evidence is already marked forged."), code="already_forged"
            )
        points = VIOLATION_POINTS[Severity(severity)]
        violation = Violation.objects.create(
            store=ticket.store,
            ticket=ticket,
            evidence=evidence,
            kind=Violation.Kind.FORGED_EVIDENCE,
            severity=severity,
            points=points,
            note=note.strip(),
            found_by=user,
            found_at=now,
        )
        ticket_event_write(
            ticket=ticket,
            action="evidence_forged",
            actor=user,
            at=now,
            reason=note.strip(),
            payload={"evidence": evidence.pk, "severity": severity, "points": points},
        )
    return violation


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
        ticket_event_write(
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
        ticket_event_write(
            ticket=ticket,
            action="exemption_rejected",
            actor=user,
            at=now,
            reason=note,
            payload={"exemption": request.pk},
        )
    return request


def _require_pending(request: ExemptionRequest) -> None:
    if request.status != ExemptionRequest.Status.PENDING:
        raise ValidationError(
            _("This exemption request has already been decided."), code="already_decided"
        )

"""Forged-evidence findings (凭证造假) and the violation points they cost the store."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tickets.models import Evidence, NotificationKind
from tickets.services.common import require_perm, ticket_event_write, ticket_lock
from tickets.services.notifications import merchant_language, notifications_decision

from ..models import VIOLATION_POINTS, Severity, Violation


def evidence_mark_forged(
    *,
    evidence: Evidence,
    user: AbstractBaseUser,
    severity: str,
    note: str = "",
    now: datetime | None = None,
) -> Violation:
    """凭证造假: 12 points (general) or 48 points (serious) on the store, each time
    a forged file is found; one finding per file. The reason (``note``) is required:
    the merchant is told it with the finding."""
    now = now or timezone.now()
    require_perm(user, "tickets.mark_evidence_forged")
    if severity not in Severity.values:
        raise ValidationError({"severity": _("Choose general or serious.")})
    if not note.strip():
        raise ValidationError(
            {
                "note": ValidationError(
                    _("Give the reason for the finding: the merchant is told it."),
                    code="reason_required",
                )
            }
        )
    with transaction.atomic():
        ticket = ticket_lock(ticket=evidence.ticket)
        evidence = Evidence.objects.select_for_update().get(pk=evidence.pk)
        if evidence.from_platform:
            # The platform's own file (the CS system's upload) is no proof of the store's.
            raise ValidationError(
                _("This file is the platform's own evidence, not the store's."),
                code="platform_evidence",
            )
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
        event = ticket_event_write(
            ticket=ticket,
            action="evidence_forged",
            actor=user,
            at=now,
            reason=note.strip(),
            payload={"evidence": evidence.pk, "severity": severity, "points": points},
        )
        with merchant_language():
            facts = {
                "number": ticket.number,
                "name": evidence.original_name,
                "points": points,
                "severity": Severity(severity).label,
                "note": note.strip(),
            }
            body = (
                _(
                    "The platform found the evidence file %(name)s forged (%(severity)s): "
                    "%(points)d violation points on the store."
                )
                % facts
            )
            if facts["note"]:
                body += " " + _("The platform's reasoning: %(reasoning)s") % {
                    "reasoning": facts["note"]
                }
            notifications_decision(
                ticket=ticket,
                kind=NotificationKind.FORGED,
                cause=event.pk,
                title=_("Ticket %(number)s: evidence %(name)s found forged, %(points)d points")
                % facts,
                body=body,
                now=now,
            )
    return violation

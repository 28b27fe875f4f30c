"""The platform's judgments on escalated tickets, compensation, and store violations."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from merchants.models import Store
from tickets.models import Evidence, Ticket


class Judgment(models.Model):
    """纠纷判责: an arbitrator's decision. Liable counts toward the dispute-refund rate."""

    ticket = models.OneToOneField(Ticket, on_delete=models.PROTECT, related_name="judgment")
    merchant_liable = models.BooleanField(_("merchant liable"))
    refund_amount = models.DecimalField(_("refund amount (CNY)"), max_digits=12, decimal_places=2)
    reasoning = models.TextField(_("reasoning"))
    judged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    judged_at = models.DateTimeField(_("judged at"), db_index=True)

    class Meta:
        verbose_name = _("judgment")
        verbose_name_plural = _("judgments")
        ordering = ["-judged_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(refund_amount__gte=0), name="judgment_refund_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.ticket}: {'liable' if self.merchant_liable else 'not liable'}"


class Compensation(models.Model):
    """A worry-free (无忧购) ticket closed by its own compensation standard: no judgment."""

    ticket = models.OneToOneField(Ticket, on_delete=models.PROTECT, related_name="compensation")
    amount = models.DecimalField(_("amount (CNY)"), max_digits=12, decimal_places=2)
    note = models.TextField(_("note"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"))

    class Meta:
        verbose_name = _("compensation")
        verbose_name_plural = _("compensations")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="compensation_not_negative"),
        ]

    def __str__(self):
        return f"{self.ticket}: {self.amount}"


class Severity(models.TextChoices):
    # 凭证造假: general violation 12 points, serious violation 48 points, each time (SPEC.md).
    GENERAL = "general", _("General violation (一般违规)")
    SERIOUS = "serious", _("Serious violation (严重违规)")


VIOLATION_POINTS = {Severity.GENERAL: 12, Severity.SERIOUS: 48}


class Violation(models.Model):
    """Violation points on a store; forged evidence is one finding per evidence file."""

    class Kind(models.TextChoices):
        FORGED_EVIDENCE = "forged_evidence", _("Forged evidence (凭证造假)")

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="violations")
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="violations")
    evidence = models.OneToOneField(
        Evidence, on_delete=models.PROTECT, null=True, blank=True, related_name="forgery"
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices)
    points = models.PositiveSmallIntegerField(_("points"))
    note = models.TextField(_("note"), blank=True)
    found_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    found_at = models.DateTimeField(_("found at"), db_index=True)

    class Meta:
        verbose_name = _("violation")
        verbose_name_plural = _("violations")
        ordering = ["-found_at"]

    def __str__(self):
        return f"{self.store}: {self.points} ({self.get_severity_display()})"


class EscalatedTicket(Ticket):
    """The arbitrators' queue (待判责队列) in the admin: escalated tickets only.

    A proxy, so the queue has its own admin page and URLs; the rows are tickets.
    """

    class Meta:
        proxy = True
        verbose_name = _("Escalated queue")
        verbose_name_plural = _("Escalated queue")

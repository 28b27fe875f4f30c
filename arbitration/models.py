"""The platform's judgments on escalated tickets, compensation, and store violations."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from merchants.models import Platform, Store
from tickets.models import Evidence, Ticket


class Judgment(models.Model):
    """纠纷判责: an arbitrator's decision. Liable counts toward the dispute-refund rate."""

    ticket = models.OneToOneField(
        Ticket, on_delete=models.PROTECT, related_name="judgment", verbose_name=_("ticket")
    )
    merchant_liable = models.BooleanField(_("merchant liable"))
    refund_amount = models.DecimalField(_("refund amount (CNY)"), max_digits=12, decimal_places=2)
    reasoning = models.TextField(_("reasoning"))
    judged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("judged by"),
    )
    judged_at = models.DateTimeField(_("judged at"), db_index=True)
    # Set when an appeal overturns the judgment: from then on it is void, and every
    # report day computed again leaves it out of the dispute-refund rate.
    overturned_at = models.DateTimeField(_("overturned at"), null=True, blank=True)

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
        if self.merchant_liable:
            decision = gettext("The merchant is liable")
        else:
            decision = gettext("The merchant is not liable")
        return f"{self.ticket}: {decision}"


class Compensation(models.Model):
    """A worry-free (无忧购) ticket closed by its own compensation standard: no judgment."""

    ticket = models.OneToOneField(
        Ticket, on_delete=models.PROTECT, related_name="compensation", verbose_name=_("ticket")
    )
    amount = models.DecimalField(_("amount (CNY)"), max_digits=12, decimal_places=2)
    note = models.TextField(_("note"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("decided by"),
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

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="violations", verbose_name=_("store")
    )
    ticket = models.ForeignKey(
        Ticket, on_delete=models.PROTECT, related_name="violations", verbose_name=_("ticket")
    )
    evidence = models.OneToOneField(
        Evidence,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="forgery",
        verbose_name=_("evidence"),
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices)
    points = models.PositiveSmallIntegerField(_("points"))
    note = models.TextField(_("note"), blank=True)
    found_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("found by"),
    )
    found_at = models.DateTimeField(_("found at"), db_index=True)
    # Set when an appeal overturns the finding: its points no longer count anywhere.
    overturned_at = models.DateTimeField(_("overturned at"), null=True, blank=True)

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


class StoreDayReport(models.Model):
    """One store's figures for one Asia/Shanghai day, written by the nightly batch.

    Re-running a day replaces its rows; the batch is the only writer.
    """

    store = models.ForeignKey(
        Store,
        on_delete=models.CASCADE,
        related_name="day_reports",
        db_index=False,
        verbose_name=_("store"),
    )
    day = models.DateField(_("day"))
    received = models.PositiveIntegerField(_("tickets received"), default=0)
    replied_in_time = models.PositiveIntegerField(_("replied in time"), default=0)
    replied_late = models.PositiveIntegerField(_("replied late"), default=0)
    timed_out = models.PositiveIntegerField(_("timed out"), default=0)
    escalated = models.PositiveIntegerField(_("escalated"), default=0)
    judged_liable = models.PositiveIntegerField(_("judged liable"), default=0)
    judged_not_liable = models.PositiveIntegerField(_("judged not liable"), default=0)
    compensated = models.PositiveIntegerField(_("worry-free compensated"), default=0)
    median_reply_seconds = models.PositiveIntegerField(
        _("median time to reply (s)"), null=True, blank=True
    )
    p90_reply_seconds = models.PositiveIntegerField(
        _("p90 time to reply (s)"), null=True, blank=True
    )
    violation_points = models.PositiveIntegerField(_("violation points added"), default=0)
    fines = models.DecimalField(
        _("fines added (CNY)"), max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    # Rolling 30 days ending this day: liable judgments ÷ paid orders (Taobao 纠纷退款率,
    # Tmall 平台纠纷率). Empty when the store had no paid orders in the window.
    liable_30d = models.PositiveIntegerField(_("liable judgments, 30 days"), default=0)
    paid_orders_30d = models.PositiveIntegerField(_("paid orders, 30 days"), default=0)
    dispute_rate = models.DecimalField(
        _("dispute-refund rate (%)"), max_digits=9, decimal_places=4, null=True, blank=True
    )
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("store day report")
        verbose_name_plural = _("store day reports")
        ordering = ["-day", "store_id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "day"], name="store_day_report_unique"),
        ]
        indexes = [models.Index(fields=["day"], name="store_day_report_day")]

    def __str__(self):
        return f"{self.store.name} {date_format(self.day)}"


class PenaltyRule(models.Model):
    """JD ops consequences as data: the n-th timed-out ticket of a store in a calendar
    month gets a warning, points or a fine (the rule with the highest threshold ≤ n)."""

    class Action(models.TextChoices):
        WARNING = "warning", _("Warning")
        POINTS = "points", _("Points")
        FINE = "fine", _("Fine")

    platform = models.CharField(
        _("platform"), max_length=16, choices=Platform.choices, default=Platform.JD
    )
    from_count = models.PositiveIntegerField(
        _("from the n-th timeout in a month"), help_text=_("1 = the first one.")
    )
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    points = models.PositiveIntegerField(_("points"), default=0)
    amount = models.DecimalField(
        _("fine (CNY)"), max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("penalty rule")
        verbose_name_plural = _("penalty rules")
        ordering = ["platform", "from_count"]
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "from_count"], name="penalty_rule_unique_threshold"
            ),
        ]

    def __str__(self):
        return gettext("%(platform)s, from timeout no. %(count)d of a month: %(action)s") % {
            "platform": self.get_platform_display(),
            "count": self.from_count,
            "action": self.get_action_display(),
        }


class PenaltyEntry(models.Model):
    """The per-store penalty ledger: one entry per timed-out ticket."""

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="penalties", verbose_name=_("store")
    )
    ticket = models.OneToOneField(
        Ticket, on_delete=models.PROTECT, related_name="penalty", verbose_name=_("ticket")
    )
    rule = models.ForeignKey(
        PenaltyRule, on_delete=models.PROTECT, related_name="+", verbose_name=_("penalty rule")
    )
    action = models.CharField(_("action"), max_length=16, choices=PenaltyRule.Action.choices)
    points = models.PositiveIntegerField(_("points"), default=0)
    amount = models.DecimalField(
        _("fine (CNY)"), max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    occurred_at = models.DateTimeField(_("timed out at"))
    month = models.DateField(_("month"), help_text=_("First day of the Asia/Shanghai month."))
    ordinal = models.PositiveIntegerField(_("n-th timeout of the month"))

    class Meta:
        verbose_name = _("penalty entry")
        verbose_name_plural = _("penalty ledger")
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["store", "month"], name="penalty_store_month")]

    def __str__(self):
        return gettext("%(store)s (%(platform)s), ticket %(ticket)s: %(action)s") % {
            "store": self.store.name,
            "platform": self.store.get_platform_display(),
            "ticket": self.ticket,
            "action": self.get_action_display(),
        }


class PenaltyPolicy(models.Model):
    """Per-platform thresholds ops set: when accumulated points flag a store for closure."""

    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices, unique=True)
    closure_points = models.PositiveIntegerField(
        _("closure threshold (points)"),
        help_text=_("Penalty and violation points in the window that flag a store."),
    )
    window_days = models.PositiveIntegerField(_("window (days)"), default=365)

    class Meta:
        verbose_name = _("penalty policy")
        verbose_name_plural = _("penalty policies")

    def __str__(self):
        return gettext("%(platform)s: %(points)d points in %(days)d days") % {
            "platform": self.get_platform_display(),
            "points": self.closure_points,
            "days": self.window_days,
        }


class SettlementStatement(models.Model):
    """A store's monthly settlement: fines deducted from what is payable, then from the
    deposit, which never goes below zero; what neither covers is the shortfall."""

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="statements", verbose_name=_("store")
    )
    month = models.DateField(_("month"), help_text=_("First day of the Asia/Shanghai month."))
    payable = models.DecimalField(_("payable before fines"), max_digits=14, decimal_places=2)
    fines = models.DecimalField(_("fines"), max_digits=14, decimal_places=2)
    deducted_from_payable = models.DecimalField(
        _("deducted from payable"), max_digits=14, decimal_places=2
    )
    deposit_before = models.DecimalField(_("deposit before"), max_digits=14, decimal_places=2)
    deducted_from_deposit = models.DecimalField(
        _("deducted from deposit"), max_digits=14, decimal_places=2
    )
    deposit_after = models.DecimalField(_("deposit after"), max_digits=14, decimal_places=2)
    shortfall = models.DecimalField(_("shortfall"), max_digits=14, decimal_places=2)
    net_payable = models.DecimalField(_("net payable"), max_digits=14, decimal_places=2)
    points_in_window = models.PositiveIntegerField(_("points in the closure window"), default=0)
    closure_flag = models.BooleanField(_("closure threshold crossed"), default=False)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("settlement statement")
        verbose_name_plural = _("settlement statements")
        ordering = ["-month", "store_id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "month"], name="statement_unique_month"),
            models.CheckConstraint(
                condition=Q(deposit_after__gte=0) & Q(shortfall__gte=0) & Q(net_payable__gte=0),
                name="statement_never_negative",
            ),
        ]

    def __str__(self):
        return f"{self.store.name} {date_format(self.month, 'YEAR_MONTH_FORMAT')}"


class AppealPolicy(models.Model):
    """How long a store has to appeal (申诉) a decision, per platform: data ops edit.
    Seven days is ours (SPEC.md leaves it to the platform)."""

    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices, unique=True)
    window_days = models.PositiveSmallIntegerField(
        _("appeal window (days)"),
        default=7,
        help_text=_("Days after a decision during which the store may appeal it."),
    )

    class Meta:
        verbose_name = _("appeal policy")
        verbose_name_plural = _("appeal policies")
        ordering = ["platform"]

    def __str__(self):
        return f"{self.get_platform_display()}: {self.window_days}"


class AppealState(models.TextChoices):
    FILED = "filed", _("Waiting for a decision")
    UPHELD = "upheld", _("Upheld")
    OVERTURNED = "overturned", _("Overturned")


class Appeal(ConcurrentTransitionMixin, models.Model):
    """A store's appeal (申诉) of one decision against it: a liable judgment or a
    forged-evidence finding. Once per decision; decided by another arbitrator."""

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="appeals", verbose_name=_("store")
    )
    ticket = models.ForeignKey(
        Ticket, on_delete=models.PROTECT, related_name="appeals", verbose_name=_("ticket")
    )
    # Exactly one of the two; OneToOne makes "once per decision" the database's rule too.
    judgment = models.OneToOneField(
        Judgment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appeal",
        verbose_name=_("judgment"),
    )
    violation = models.OneToOneField(
        Violation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appeal",
        verbose_name=_("violation"),
    )
    state = FSMField(
        _("state"), default=AppealState.FILED, choices=AppealState.choices, protected=True
    )
    statement = models.TextField(_("statement"))
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("filed by"),
    )
    filed_at = models.DateTimeField(_("filed at"), db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reasoning = models.TextField(_("reasoning"), blank=True)

    class Meta:
        verbose_name = _("appeal")
        verbose_name_plural = _("appeals")
        ordering = ["filed_at", "pk"]
        permissions = [("decide_appeal", _("Can decide appeals"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(judgment__isnull=False, violation__isnull=True)
                | Q(judgment__isnull=True, violation__isnull=False),
                name="appeal_one_decision",
            ),
        ]
        indexes = [models.Index(fields=["state", "filed_at"], name="appeal_queue")]

    def __str__(self):
        return f"{self.ticket} ({self.get_state_display()})"

    # Transitions change the state only; arbitration.services.appeals does the rest.
    @transition(field=state, source=AppealState.FILED, target=AppealState.UPHELD)
    def uphold(self):
        pass

    @transition(field=state, source=AppealState.FILED, target=AppealState.OVERTURNED)
    def overturn(self):
        pass

    @property
    def decision(self):
        return self.judgment if self.judgment_id else self.violation


class AppealEvidence(models.Model):
    """A new file the store sends with its appeal: checked like any evidence."""

    appeal = models.ForeignKey(
        Appeal, on_delete=models.CASCADE, related_name="files", verbose_name=_("appeal")
    )
    file = models.FileField(_("file"), upload_to="appeals/%Y/%m/", max_length=255)
    original_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    content_type = models.CharField(_("content type"), max_length=100)
    uploaded_at = models.DateTimeField(_("uploaded at"))

    class Meta:
        verbose_name = _("appeal evidence")
        verbose_name_plural = _("appeal evidence")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["appeal", "sha256"], name="appeal_file_unique")
        ]

    def __str__(self):
        return self.original_name

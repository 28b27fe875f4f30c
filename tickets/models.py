"""Policies and calendars (the SLA as data), tickets and what hangs off them."""

from datetime import date, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils.timezone import localtime
from django.utils.translation import get_language, gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from merchants.models import Platform, Store

from . import sla
from .durations import duration_text


class Clock(models.TextChoices):
    CALENDAR = sla.CALENDAR, _("Calendar hours")
    WORKING = sla.WORKING, _("Working hours")


class TicketKind(models.TextChoices):
    NORMAL = "normal", _("Normal")
    # JD: CRC high-risk complaints, 4 working hours on a 09:00–19:00 clock (SPEC.md).
    CRC_HIGH_RISK = "crc_high_risk", _("CRC high-risk complaint")


class Category(models.TextChoices):
    URGE_SHIPMENT = "urge_shipment", _("Urge shipment")
    LOGISTICS = "logistics", _("Logistics problem")
    REFUND_PROGRESS = "refund_progress", _("Refund progress")
    QUALITY = "quality", _("Quality problem")
    WRONG_OR_MISSING = "wrong_or_missing", _("Wrong or missing item")
    INVOICE = "invoice", _("Invoice")
    AFTER_SALES = "after_sales", _("After-sales service")
    PRICE_PROTECTION = "price_protection", _("Price protection")
    OTHER = "other", _("Other")


class TicketState(models.TextChoices):
    OPEN = "open", _("Open")
    REPLIED = "replied", _("Replied")
    ESCALATED = "escalated", _("Escalated")
    JUDGED = "judged", _("Judged")
    CLOSED = "closed", _("Closed")


class WorkingCalendar(models.Model):
    """The hours a working clock runs, in local time, with closed days and changed hours."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    day_start = models.TimeField(_("working day starts"), default=time(9, 0))
    day_end = models.TimeField(
        _("working day ends"), default=time(19, 0), help_text=_("00:00 means midnight (24:00).")
    )
    weekdays = models.JSONField(
        _("working weekdays"),
        default=list,
        help_text=_("Monday=0 … Sunday=6. JD's default works every day."),
    )

    class Meta:
        verbose_name = _("working calendar")
        verbose_name_plural = _("working calendars")

    def __str__(self):
        return self.name

    def clean(self):
        if not isinstance(self.weekdays, list) or not all(
            isinstance(d, int) and 0 <= d <= 6 for d in self.weekdays
        ):
            raise ValidationError({"weekdays": _("List weekdays as numbers 0 (Monday) to 6.")})
        if self.day_end != time(0) and self.day_end <= self.day_start:
            raise ValidationError({"day_end": _("The working day must end after it starts.")})

    def to_schedule(self) -> sla.WorkingSchedule:
        """The pure SLA clock's view of this calendar (one query for the exceptions)."""
        from zoneinfo import ZoneInfo

        closed: set[date] = set()
        changed: dict[date, tuple[time, time]] = {}
        for exc in self.exceptions.all():
            if exc.closed:
                closed.add(exc.date)
            else:
                changed[exc.date] = (exc.start, exc.end)
        return sla.WorkingSchedule(
            tz=ZoneInfo(self.timezone),
            day_start=self.day_start,
            day_end=self.day_end,
            weekdays=frozenset(self.weekdays),
            closed_days=frozenset(closed),
            changed_hours=changed,
        )


class CalendarException(models.Model):
    """A local date that is closed (e.g. Spring Festival) or works changed hours."""

    calendar = models.ForeignKey(
        WorkingCalendar,
        on_delete=models.CASCADE,
        related_name="exceptions",
        verbose_name=_("working calendar"),
    )
    date = models.DateField(_("date"))
    closed = models.BooleanField(_("closed all day"), default=True)
    start = models.TimeField(_("starts"), null=True, blank=True)
    end = models.TimeField(_("ends"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("calendar exception")
        verbose_name_plural = _("calendar exceptions")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="calendar_exception_unique"),
            models.CheckConstraint(
                condition=Q(closed=True) | Q(start__isnull=False, end__isnull=False),
                name="calendar_exception_hours_when_open",
            ),
        ]

    def __str__(self):
        return f"{self.calendar} {self.date}"


class Policy(models.Model):
    """How long a store has to reply, on which clock, and when to remind (ops-editable data)."""

    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices)
    kind = models.CharField(_("ticket kind"), max_length=16, choices=TicketKind.choices)
    window = models.DurationField(_("reply window"))
    clock = models.CharField(_("clock"), max_length=16, choices=Clock.choices)
    calendar = models.ForeignKey(
        WorkingCalendar,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policies",
        verbose_name=_("working calendar"),
    )
    reminder_offsets_minutes = models.JSONField(
        _("reminders (minutes before due)"),
        default=list,
        help_text=_("Working minutes for a working clock, e.g. [720, 120] or [60]."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("policy")
        verbose_name_plural = _("policies")
        ordering = ["platform", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "kind"], name="policy_unique_platform_kind"
            ),
            models.CheckConstraint(
                condition=Q(clock="calendar") | Q(calendar__isnull=False),
                name="policy_working_clock_has_calendar",
            ),
            models.CheckConstraint(
                condition=Q(window__gt=timedelta(0)), name="policy_window_positive"
            ),
        ]

    def __str__(self):
        return gettext("%(platform)s / %(kind)s: %(window)s") % {
            "platform": self.get_platform_display(),
            "kind": self.get_kind_display(),
            "window": duration_text(self.window, working=self.clock == sla.WORKING),
        }

    def clean(self):
        offsets = self.reminder_offsets_minutes
        if not isinstance(offsets, list) or not all(isinstance(m, int) and m > 0 for m in offsets):
            raise ValidationError(
                {"reminder_offsets_minutes": _("List whole minutes greater than zero.")}
            )
        if self.window and any(timedelta(minutes=m) >= self.window for m in offsets):
            raise ValidationError(
                {"reminder_offsets_minutes": _("Each reminder must fall inside the window.")}
            )

    @property
    def reminder_offsets(self) -> list[timedelta]:
        return [timedelta(minutes=m) for m in sorted(self.reminder_offsets_minutes, reverse=True)]

    def schedule(self) -> sla.WorkingSchedule | None:
        return self.calendar.to_schedule() if self.calendar_id else None


def mask_phone(value: str) -> str:
    """138****5678: the shape merchants see; the full number is for platform staff."""
    if len(value) <= 7:
        return value[:1] + "*" * max(len(value) - 1, 0)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """张**: keep the family name only."""
    return value[:1] + "*" * (len(value) - 1) if value else ""


class Ticket(ConcurrentTransitionMixin, models.Model):
    # CRC high-risk tickets sort first everywhere (JD priority routing, SPEC.md).
    PRIORITY_CRC = 10
    PRIORITY_NORMAL = 0

    number = models.CharField(_("platform ticket number"), max_length=64, unique=True)
    # Both FKs go unindexed on their own: (store, state, due_at) serves store
    # look-ups, and every index is rewritten when a sweep changes the state.
    store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("store"),
        db_index=False,
    )
    policy = models.ForeignKey(
        Policy,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("policy"),
        db_index=False,
    )
    order_number = models.CharField(_("order number"), max_length=64)
    kind = models.CharField(
        _("kind"), max_length=16, choices=TicketKind.choices, default=TicketKind.NORMAL
    )
    worry_free = models.BooleanField(
        _("worry-free purchase (无忧购)"),
        default=False,
        help_text=_("Skips judgment and follows its own compensation standard."),
    )
    category = models.CharField(
        _("category"), max_length=32, choices=Category.choices, default=Category.OTHER
    )
    summary = models.TextField(_("summary"))
    consumer_name = models.CharField(_("consumer name"), max_length=100, blank=True)
    consumer_phone = models.CharField(_("consumer phone"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created at"), db_index=True)
    due_at = models.DateTimeField(_("due at"))
    state = FSMField(
        _("state"),
        max_length=16,
        choices=TicketState.choices,
        default=TicketState.OPEN,
        protected=True,
    )
    priority = models.PositiveSmallIntegerField(_("priority"), default=PRIORITY_NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        related_name="assigned_tickets",
        verbose_name=_("assignee"),
    )
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-priority", "due_at"]
        permissions = [
            ("confirm_ticket", _("Can confirm a settled reply")),
            ("escalate_ticket", _("Can escalate a ticket to platform intervention")),
            ("judge_ticket", _("Can judge an escalated ticket")),
            ("compensate_ticket", _("Can close a worry-free ticket with compensation")),
            ("mark_evidence_forged", _("Can mark evidence forged")),
            ("decide_exemption", _("Can grant or reject an exemption request")),
            ("use_intake_api", _("Can open tickets through the intake API")),
        ]
        indexes = [
            # The inbox: a store's tickets by state, soonest due first. It carries the
            # creation time and id too, so the overview counts today's tickets of a
            # store (due_at ≥ created_at bounds the range) and joins them to their
            # replies from the index alone.
            models.Index(
                fields=["store", "state", "due_at"],
                include=["created_at", "id"],
                name="ticket_store_state_due",
            ),
            # The sweeps: any state's tickets by deadline ("open and due_at < now").
            models.Index(fields=["state", "due_at"], name="ticket_state_due"),
            models.Index(fields=["order_number"], name="ticket_order_number"),
            # The nightly report and the penalty ledger read a day's escalations; the
            # store overview counts one store's of today from the index alone.
            models.Index(
                fields=["escalated_at"],
                include=["store"],
                condition=Q(escalated_at__isnull=False),
                name="ticket_escalated_at",
            ),
            # The staff's escalated queue, in its order (arbitration.selectors.QUEUE_ORDER):
            # a page is a range read, not a sort of every escalated ticket. Only escalated
            # rows are in it.
            models.Index(
                fields=["-priority", "escalated_at", "id"],
                condition=Q(state="escalated"),
                name="ticket_escalated_queue",
            ),
            # The inbox's "mine" tab and its count: a member of several stores sees one
            # store's at a time, so the store is part of the range read.
            models.Index(
                fields=["assignee", "store", "state", "due_at"],
                # Only assigned tickets: escalating an unassigned one (most of what the
                # sweep escalates) writes nothing here.
                condition=Q(assignee__isnull=False),
                name="ticket_mine",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(due_at__gte=models.F("created_at")), name="ticket_due_after_created"
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def consumer_name_masked(self) -> str:
        return mask_name(self.consumer_name)

    @property
    def consumer_phone_masked(self) -> str:
        return mask_phone(self.consumer_phone)

    @property
    def is_crc(self) -> bool:
        return self.kind == TicketKind.CRC_HIGH_RISK

    # Transitions change the state only. The services lock the row, check who may
    # act and when, call the transition, save and write the event in one transaction.

    @transition(field=state, source=TicketState.OPEN, target=TicketState.REPLIED)
    def reply(self):
        pass

    @transition(field=state, source=TicketState.REPLIED, target=TicketState.CLOSED)
    def confirm(self):
        pass

    @transition(
        field=state, source=[TicketState.OPEN, TicketState.REPLIED], target=TicketState.ESCALATED
    )
    def escalate(self):
        pass

    # Worry-free (无忧购) orders skip judgment and follow their own compensation (SPEC.md).
    @transition(
        field=state,
        source=TicketState.ESCALATED,
        target=TicketState.JUDGED,
        conditions=[lambda ticket: not ticket.worry_free],
    )
    def judge(self):
        pass

    @transition(
        field=state,
        source=TicketState.ESCALATED,
        target=TicketState.CLOSED,
        conditions=[lambda ticket: ticket.worry_free],
    )
    def compensate(self):
        pass


class ContactChannel(models.TextChoices):
    WANGWANG = "wangwang", _("Wangwang / chat")
    PHONE = "phone", _("Phone")
    SMS = "sms", _("SMS")
    OTHER = "other", _("Other")


def evidence_upload_to(instance: "Evidence", filename: str) -> str:
    # Files are named by content hash: a stored name never carries user input.
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"evidence/{instance.ticket_id}/{instance.sha256}.{suffix[:8]}"


def evidence_thumbnail_to(instance: "Evidence", filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "jpg"
    return f"evidence/{instance.ticket_id}/thumbs/{instance.sha256}.{suffix[:8]}"


class Evidence(models.Model):
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="evidence", verbose_name=_("ticket")
    )
    file = models.FileField(_("file"), upload_to=evidence_upload_to, max_length=255)
    original_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    content_type = models.CharField(_("content type"), max_length=100)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded at"))
    # The platform's own evidence (the CS system's upload through the API), never the
    # store's: it does not count toward a reply's evidence, nor can it be found forged.
    # Labelled "platform" (平台), a phrase the catalog already has: admin reads "platform ✓".
    from_platform = models.BooleanField(_("platform"), default=False)
    # Made once from an image at upload (Pillow), never per request; empty for other files.
    thumbnail = models.FileField(
        _("thumbnail"), upload_to=evidence_thumbnail_to, max_length=255, blank=True
    )
    # Fingerprints that find evidence reused across tickets (tickets.fingerprints), made
    # at upload or by `manage.py evidence_fingerprints`; fingerprinted_at is null until
    # then. dhash is the signed form of the 64-bit hash; its four 16-bit bands are
    # indexed for the near-duplicate lookup (tickets.services.evidence_reuse).
    fingerprinted_at = models.DateTimeField(null=True, editable=False)
    dhash = models.BigIntegerField(null=True, editable=False)
    dhash_band0 = models.SmallIntegerField(null=True, editable=False)
    dhash_band1 = models.SmallIntegerField(null=True, editable=False)
    dhash_band2 = models.SmallIntegerField(null=True, editable=False)
    dhash_band3 = models.SmallIntegerField(null=True, editable=False)
    captured_at = models.DateTimeField(null=True, editable=False)

    class Meta:
        verbose_name = _("evidence")
        verbose_name_plural = _("evidence")
        ordering = ["uploaded_at"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "sha256"], name="evidence_unique_per_ticket")
        ]
        indexes = [
            models.Index(fields=["sha256"], name="evidence_sha256"),
            # Covering (INCLUDE): the near-copy lookup measures the distance on the index
            # alone (tickets.services.evidence_reuse.evidence_matches).
            *(
                models.Index(
                    fields=[f"dhash_band{band}"],
                    include=["dhash", "id"],
                    name=f"evidence_dhash_band{band}",
                )
                for band in range(4)
            ),
        ]

    def __str__(self):
        return self.original_name


class ContactAttempt(models.Model):
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("ticket")
    )
    channel = models.CharField(_("channel"), max_length=16, choices=ContactChannel.choices)
    attempted_at = models.DateTimeField(_("attempted at"))
    note = models.TextField(_("note"), blank=True)
    proof = models.ForeignKey(
        Evidence,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("proof"),
    )
    # The seed: a contact made before the ticket was created does not count.
    counts = models.BooleanField(_("counts"), default=True)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("logged by"),
    )
    logged_at = models.DateTimeField(_("logged at"))

    class Meta:
        verbose_name = _("contact attempt")
        verbose_name_plural = _("contact attempts")
        ordering = ["attempted_at"]

    def __str__(self):
        attempted_at = localtime(self.attempted_at)
        return f"{self.ticket} {self.get_channel_display()} {attempted_at:%Y-%m-%d %H:%M}"


class ReplyOption(models.Model):
    """A preset reply outcome (回单选项) of one platform, and what it requires.

    Ops edit these as data, the way WeChat Shop's ticket API flags
    is_must_description / is_must_confer_time per option (SPEC.md).
    """

    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices)
    code = models.SlugField(_("code"), max_length=32)
    label = models.CharField(_("label (Chinese)"), max_length=100)
    label_en = models.CharField(_("label (English)"), max_length=100)
    settles = models.BooleanField(
        _("settles the dispute"), help_text=_("A settled reply waits for CS to confirm it.")
    )
    escalates = models.BooleanField(
        _("escalates at once"), default=False, help_text=_("Not settled: platform intervenes.")
    )
    free_text = models.BooleanField(
        _("free-text reply"), default=False, help_text=_("JD: when no preset fits.")
    )
    requires_remark = models.BooleanField(_("requires a description"), default=False)
    requires_agreed_at = models.BooleanField(
        _("requires the time agreement was reached"), default=False
    )
    requires_evidence = models.BooleanField(_("requires evidence"), default=False)
    min_contact_attempts = models.PositiveSmallIntegerField(
        _("minimum contact attempts"),
        default=1,
        help_text=_("Counting attempts only: those made after the ticket was created."),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("reply option")
        verbose_name_plural = _("reply options")
        ordering = ["platform", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "code"], name="reply_option_unique_code"),
            models.CheckConstraint(
                condition=~Q(settles=True, escalates=True),
                name="reply_option_settles_xor_escalates",
            ),
        ]

    def __str__(self):
        return f"{self.get_platform_display()}: {self.label}"


class Reply(models.Model):
    """The merchant's answer to a ticket (回单): one per ticket."""

    ticket = models.OneToOneField(
        Ticket, on_delete=models.CASCADE, related_name="merchant_reply", verbose_name=_("ticket")
    )
    option = models.ForeignKey(
        ReplyOption, on_delete=models.PROTECT, related_name="replies", verbose_name=_("outcome")
    )
    settles = models.BooleanField(_("settled with the consumer"))
    remark = models.TextField(_("remark"), blank=True)
    agreed_at = models.DateTimeField(_("agreement reached at"), null=True, blank=True)
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("replied by"),
    )
    replied_at = models.DateTimeField(_("replied at"))

    class Meta:
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        indexes = [
            # A day's replies (the nightly report, the store overview's today), with
            # their ticket's id, so the join to the tickets starts from the index alone.
            models.Index(fields=["replied_at"], include=["ticket"], name="reply_replied_at"),
        ]

    def __str__(self):
        option = self.option
        label = option.label if (get_language() or "").startswith("zh") else option.label_en
        return f"{self.ticket}: {label}"


class ExemptionRequest(models.Model):
    """A store hit by an outage asks ops for more time (JD 免责申请); a grant extends due_at."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        GRANTED = "granted", _("Granted")
        REJECTED = "rejected", _("Rejected")

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="exemptions", verbose_name=_("ticket")
    )
    reason = models.TextField(_("reason"))
    requested_minutes = models.PositiveIntegerField(_("extension asked (minutes)"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    granted_minutes = models.PositiveIntegerField(
        _("extension granted (minutes)"), null=True, blank=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)

    class Meta:
        verbose_name = _("exemption request")
        verbose_name_plural = _("exemption requests")
        ordering = ["requested_at"]
        constraints = [
            # One pending request per ticket: ops answer it before another is filed.
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(status="pending"), name="exemption_one_pending"
            ),
        ]

    def __str__(self):
        return ngettext(
            "%(ticket)s: +%(count)d minute (%(status)s)",
            "%(ticket)s: +%(count)d minutes (%(status)s)",
            self.requested_minutes,
        ) % {
            "ticket": self.ticket,
            "count": self.requested_minutes,
            "status": self.get_status_display(),
        }


class ApiToken(models.Model):
    """A bearer token for the platform CS system's service account; only its hash is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100)
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # Blank: never expires. A token past it, or revoked, is refused with 401 (tickets/api.py).
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.name} ({self.user})"


class EventAction(models.TextChoices):
    OPENED = "opened", _("Opened")
    CONTACT_LOGGED = "contact_logged", _("Contact logged")
    EVIDENCE_UPLOADED = "evidence_uploaded", _("Evidence uploaded")
    REPLIED = "replied", _("Replied")
    CONFIRMED = "confirmed", _("Confirmed")
    ESCALATED = "escalated", _("Escalated to platform intervention")
    JUDGED = "judged", _("Judged")
    COMPENSATED = "compensated", _("Compensated")
    EVIDENCE_FORGED = "evidence_forged", _("Evidence marked forged")
    EXEMPTION_REQUESTED = "exemption_requested", _("Exemption requested")
    EXEMPTION_GRANTED = "exemption_granted", _("Exemption granted")
    EXEMPTION_REJECTED = "exemption_rejected", _("Exemption rejected")
    REMINDER_SENT = "reminder_sent", _("Reminder sent")
    ASSIGNED = "assigned", _("Assigned")
    STAFF_NOTE = "staff_note", _("Staff note")
    APPEAL_FILED = "appeal_filed", _("Appeal filed")
    APPEAL_UPHELD = "appeal_upheld", _("Appeal upheld")
    APPEAL_OVERTURNED = "appeal_overturned", _("Appeal: decision overturned")


class AppendOnlyError(Exception):
    pass


class CurrentTransactionId(models.Func):
    """The writing transaction's 64-bit id, as a column default (``db_default``): on
    PostgreSQL ``pg_current_xact_id()`` (the top-level transaction's, even inside a
    savepoint); elsewhere NULL. integration.feed orders the event stream by it."""

    template = "pg_current_xact_id()::text::bigint"
    output_field = models.BigIntegerField()
    allowed_default = True

    def as_sql(self, compiler, connection, **extra_context):
        if connection.vendor != "postgresql":
            return "NULL", []
        return super().as_sql(compiler, connection, **extra_context)


def event_public_id(pk: int) -> str:
    """An event's id outside the database: the API's timeline, the event feed and the
    webhooks all name one event this way ("evt_123")."""
    return f"evt_{pk}"


class TicketEvent(models.Model):
    """The audit trail: written by services in the same transaction as the change; never edited."""

    # Indexed by (ticket, at) below; a second index on ticket alone would only cost inserts.
    ticket = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        verbose_name=_("ticket"),
    )
    action = models.CharField(_("action"), max_length=32, choices=EventAction.choices)
    from_state = models.CharField(_("from"), max_length=16, blank=True, choices=TicketState.choices)
    to_state = models.CharField(_("to"), max_length=16, blank=True, choices=TicketState.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        related_name="+",
        verbose_name=_("actor"),
        help_text=_("Empty when the system acted (the deadline sweep)."),
    )
    at = models.DateTimeField(_("at"))
    reason = models.TextField(_("reason"), blank=True)
    payload = models.JSONField(_("details"), default=dict, blank=True)
    # Filled by the database on every INSERT (never by Python): the event's position in
    # commit order for the integration feed and webhooks (integration/feed.py).
    txid = models.BigIntegerField(
        _("transaction id"),
        null=True,
        blank=True,
        editable=False,
        db_default=CurrentTransactionId(),
    )

    class Meta:
        verbose_name = _("ticket event")
        verbose_name_plural = _("ticket events")
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["ticket", "at"], name="ticket_event_ticket_at"),
            models.Index(fields=["txid", "id"], name="ticket_event_txid_id"),
        ]

    def __str__(self):
        return f"{self.ticket_id} {self.get_action_display()} {localtime(self.at):%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("Ticket events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Ticket events are append-only.")


class Reminder(models.Model):
    """One reminder (催促消息) of one ticket: a row per (ticket, offset) makes "once" a
    database fact, not timing luck. Rows are made when the ticket opens."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("sending", "Pending")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")
        # Never sent, by the late-sweep rules: a later reminder of the same ticket was
        # also due (only the nearest goes out), its instant came before the ticket, or
        # no working time was left before the deadline.
        SKIPPED = "skipped", _("Skipped")

    # The unique (ticket, offset) index serves look-ups by ticket.
    ticket = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        related_name="reminders",
        db_index=False,
        verbose_name=_("ticket"),
    )
    offset_minutes = models.PositiveIntegerField(_("minutes before due"))
    fire_at = models.DateTimeField(_("fires at"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["fire_at"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "offset_minutes"], name="reminder_once"),
        ]
        indexes = [
            # The reminder sweep: pending reminders by fire time, nothing else scanned.
            models.Index(
                fields=["fire_at"], condition=Q(status="pending"), name="reminder_pending_fire_at"
            ),
        ]

    def __str__(self):
        return gettext("%(ticket)s: %(offset)s before due, at %(at)s") % {
            "ticket": self.ticket_id,
            "offset": duration_text(timedelta(minutes=self.offset_minutes)),
            "at": f"{localtime(self.fire_at):%Y-%m-%d %H:%M}",
        }


class NotificationKind(models.TextChoices):
    REMINDER = "reminder", _("Deadline reminder")
    ESCALATED = "escalated", _("Escalated to platform intervention")
    # The platform's decisions, with its reasoning (the workbench issue).
    JUDGED = "judged", _("Judgment")
    FORGED = "forged", _("Forged-evidence finding")
    EXEMPTION = "exemption", _("Exemption decision")
    CONFIRMED = "confirmed", _("Reply confirmed")
    OBJECTED = "objected", _("Consumer objected")
    APPEAL = "appeal", _("Appeal decided")


class Notification(models.Model):
    """An in-app notification for a store's staff (the dashboard's bell).

    Written once by construction (a reminder row turning sent, a ticket leaving
    open), so it carries no dedupe key of its own. Indexes are kept to what the
    bell reads: every extra one is paid on each of a sweep's inserts.
    """

    store = models.ForeignKey(
        Store,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
        verbose_name=_("store"),
    )
    ticket = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("ticket"),
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        db_index=False,
        related_name="notifications",
        verbose_name=_("recipient"),
        help_text=_("Empty: every member of the store."),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=NotificationKind.choices)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    created_at = models.DateTimeField(_("created at"))
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["store", "-created_at"], name="notification_store_recent"),
        ]

    def __str__(self):
        return self.title


class Delivery(models.Model):
    """An outgoing email or group-bot message (the outbox): written in the same
    transaction as its cause, sent after commit, retried with backoff, never twice."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        WEBHOOK = "webhook", _("Group bot")

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("sending", "Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    key = models.CharField(_("key"), max_length=100, unique=True)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("store")
    )
    ticket = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("ticket"),
    )
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))
    link = models.CharField(_("link"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="delivery_due",
            ),
        ]

    def __str__(self):
        return gettext("%(channel)s: %(subject)s (%(status)s)") % {
            "channel": self.get_channel_display(),
            "subject": self.subject,
            "status": self.get_status_display(),
        }


class ReplyTemplate(models.Model):
    """A store's quick phrase (快捷短语) that staff insert into a reply's remark."""

    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="reply_templates", verbose_name=_("store")
    )
    title = models.CharField(_("title"), max_length=50)
    text = models.TextField(_("text"), max_length=1000)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reply template")
        verbose_name_plural = _("reply templates")
        ordering = ["title", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["store", "title"], name="reply_template_unique_title"),
        ]

    def __str__(self):
        return self.title


class EvidenceFlag(models.Model):
    """A reason to look twice at an evidence file, found at upload: the same file or a
    near copy of it on another ticket, or a capture date before the ticket existed.

    For platform staff only (the arbitrators' judge page and queue), never shown to a
    merchant: it names another store's ticket. Written by evidence_upload (or the
    backfill) in the upload's transaction, on the later file of a pair.
    """

    class Reason(models.TextChoices):
        EXACT = "exact", _("Same file on another ticket")
        NEAR = "near", _("Near copy of an image on another ticket")
        EARLY_DATE = "early_date", _("Taken before the ticket was opened")

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="evidence_flags", verbose_name=_("ticket")
    )
    evidence = models.ForeignKey(
        Evidence, on_delete=models.CASCADE, related_name="flags", verbose_name=_("evidence")
    )
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    matched_evidence = models.ForeignKey(
        Evidence,
        on_delete=models.CASCADE,
        null=True,
        related_name="+",
        verbose_name=_("matching evidence"),
    )
    matched_ticket = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        null=True,
        related_name="+",
        verbose_name=_("matching ticket"),
    )
    cross_store = models.BooleanField(_("another store's"), default=False)
    distance = models.PositiveSmallIntegerField(_("distance (bits of 64)"), null=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("evidence flag")
        verbose_name_plural = _("evidence flags")
        # Read in rank order where it matters (``ranking``); this is only a stable default.
        ordering = ["pk"]
        constraints = [
            # One row per pair and one early-date row per file: the backfill may run again.
            models.UniqueConstraint(
                fields=["evidence", "matched_evidence"],
                condition=Q(matched_evidence__isnull=False),
                name="evidence_flag_unique_match",
            ),
            models.UniqueConstraint(
                fields=["evidence", "reason"],
                condition=Q(matched_evidence__isnull=True),
                name="evidence_flag_unique_reason",
            ),
        ]

    def __str__(self):
        return f"{self.evidence_id}: {self.get_reason_display()}"

    # How flags rank wherever they are listed: another store's first; then the same
    # file, a near copy (the closest first), an early capture date.
    REASON_RANK = {Reason.EXACT: 0, Reason.NEAR: 1, Reason.EARLY_DATE: 2}

    def rank_key(self) -> tuple:
        """The rank in Python (flags not yet saved)."""
        return (
            not self.cross_store,
            self.REASON_RANK[self.reason],
            self.distance or 0,
            self.pk or 0,
        )

    @classmethod
    def ranking(cls) -> list:
        """The same rank as an ``order_by``."""
        reason = Case(
            *(When(reason=reason, then=Value(rank)) for reason, rank in cls.REASON_RANK.items()),
            output_field=models.IntegerField(),
        )
        return [F("cross_store").desc(), reason, F("distance").asc(nulls_first=True), "pk"]


class ApiIdempotencyKey(models.Model):
    """An API client's ``Idempotency-Key`` and the answer its request got, written in
    the same transaction as the action (tickets/idempotency.py has the rules)."""

    # The unique (user, key) index serves look-ups by user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        verbose_name=_("user"),
    )
    key = models.CharField(_("key"), max_length=100)
    method = models.CharField(_("method"), max_length=8)
    path = models.TextField(_("path"))
    fingerprint = models.CharField(_("request fingerprint (SHA-256)"), max_length=64)
    response_status = models.PositiveSmallIntegerField(_("response status"))
    response_body = models.JSONField(_("response body"))
    created_at = models.DateTimeField(_("created at"), db_index=True)

    class Meta:
        verbose_name = _("API idempotency key")
        verbose_name_plural = _("API idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="api_idempotency_key_unique"),
        ]

    def __str__(self):
        return f"{self.key} ({self.method} {self.path})"

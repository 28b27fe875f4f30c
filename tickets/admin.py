from collections.abc import Callable
from datetime import datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Case, Value, When
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.dates import WEEKDAYS
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import get_language, gettext, ngettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from arbitration.forms import (
    EscalateForm,
    ExemptionDecisionForm,
    add_service_error,
    error_text,
)
from arbitration.models import Judgment, Severity, Violation
from arbitration.services.exemptions import exemption_grant, exemption_reject

from . import sla
from .durations import duration_text
from .links import id_url
from .models import (
    ApiToken,
    CalendarException,
    ContactAttempt,
    ContactChannel,
    Delivery,
    Evidence,
    ExemptionRequest,
    Notification,
    Policy,
    Reminder,
    Reply,
    ReplyOption,
    Ticket,
    TicketEvent,
    TicketState,
    WorkingCalendar,
)
from .queue import search_filter
from .selectors import format_remaining, ticket_clock_paused, ticket_remaining, tickets_with_clock
from .services.lifecycle import ticket_confirm, ticket_escalate
from .services.team import STAFF_NOTE_MAX, store_check_assignee, ticket_staff_update
from .services.tokens import api_tokens_revoke

# --- what staff read: durations, weekdays and event details in the admin's language ----


def list_text(items) -> str:
    """Items joined the way the active language lists them (「12 小时、2 小时」)."""
    return pgettext("list separator", ", ").join(str(item) for item in items)


def weekdays_text(days) -> str:
    days = sorted({d for d in days or [] if d in WEEKDAYS})
    if days == list(range(7)):
        return gettext("Every day")
    if days == list(range(5)):
        return gettext("Monday to Friday")
    return list_text(WEEKDAYS[d] for d in days) or "—"


def _policy_is_working(policy: Policy) -> bool:
    return policy.clock == sla.WORKING


# Each key a service writes into TicketEvent.payload, in the order staff read them.
EVENT_DETAIL_LABELS = {
    "option": _("outcome"),
    "settles": _("settled with the consumer"),
    "channel": _("channel"),
    "attempted_at": _("attempted at"),
    "counts": _("counts toward the reply"),
    "merchant_liable": _("merchant liable"),
    "refund_amount": _("refund amount (CNY)"),
    "amount": _("amount (CNY)"),
    "severity": _("severity"),
    "points": _("points"),
    "minutes": _("extension"),
    "old_due_at": _("previous due time"),
    "new_due_at": _("new due time"),
    "due_at": _("due at"),
    "waived_evidence": _("evidence waived (no reply before the deadline)"),
    "objection": _("the consumer objects"),
    "assignee": _("assignee"),
    "claimed": _("taken by the assignee"),
    "decision": _("decision appealed"),
    "files": _("new files"),
    "name": _("file name"),
    "sha256": _("SHA-256"),
    "evidence": _("evidence"),
    "contact": _("contact attempt"),
    "exemption": _("exemption request"),
    "appeal": _("appeal"),
    "policy": _("policy"),
}
# Ids of the rows an event is about: shown as #12.
EVENT_DETAIL_IDS = {"evidence", "contact", "exemption", "appeal", "policy"}


def _event_detail_value(event: TicketEvent, key: str, value) -> str:
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if value in (None, ""):
        return "—"
    if key in EVENT_DETAIL_IDS:
        return f"#{value}"
    if key.endswith("_at") and isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            return value
        if timezone.is_aware(instant):
            instant = timezone.localtime(instant)
        return formats.localize(instant)
    if key == "channel" and value in ContactChannel.values:
        return str(ContactChannel(value).label)
    if key == "severity" and value in Severity.values:
        return str(Severity(value).label)
    if key == "minutes" and isinstance(value, int):
        return duration_text(
            timedelta(minutes=value), working=_policy_is_working(event.ticket.policy)
        )
    if key == "decision":
        models = {"judgment": Judgment, "violation": Violation}
        return str(models[value]._meta.verbose_name) if value in models else str(value)
    if key == "option":
        reply = getattr(event.ticket, "merchant_reply", None)
        if reply is not None and reply.option.code == value:
            chinese = (get_language() or "").startswith("zh")
            return reply.option.label if chinese else reply.option.label_en
    return str(value)


def event_details(event: TicketEvent):
    """An event's payload as labelled lines (「退款金额（元）：59.90」), not raw JSON.

    Reads event.ticket.policy and event.ticket.merchant_reply.option: select them."""
    payload = event.payload or {}
    order = list(EVENT_DETAIL_LABELS)
    keys = sorted(payload, key=lambda k: order.index(k) if k in order else len(order))
    lines = [
        (
            gettext("%(label)s: %(value)s")
            % {
                "label": EVENT_DETAIL_LABELS.get(key, key),
                "value": _event_detail_value(event, key, payload[key]),
            },
        )
        for key in keys
    ]
    return format_html_join("", '<div class="event-detail">{}</div>', lines) or "—"


EVENT_RELATED = ["actor", "ticket__policy", "ticket__merchant_reply__option"]


class CalendarExceptionInline(admin.TabularInline):
    model = CalendarException
    extra = 0


@admin.register(WorkingCalendar)
class WorkingCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "timezone", "day_start", "day_end", "weekdays_display"]
    inlines = [CalendarExceptionInline]

    @admin.display(description=_("working weekdays"))
    def weekdays_display(self, obj: WorkingCalendar) -> str:
        return weekdays_text(obj.weekdays)


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Policy
        fields = [
            "platform",
            "kind",
            "window",
            "clock",
            "calendar",
            "reminder_offsets_minutes",
            "is_active",
        ]
        help_texts = {
            "window": _(
                "Days, then hours:minutes:seconds: “1 00:00:00” is 24 hours, “04:00:00” "
                "is 4 hours (working hours on a working clock)."
            ),
        }


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    form = PolicyForm
    list_display = [
        "platform",
        "kind",
        "window_display",
        "clock",
        "calendar",
        "reminders_display",
        "is_active",
    ]
    list_filter = ["platform", "kind", "clock", "is_active"]
    list_select_related = ["calendar"]

    @admin.display(description=_("reply window"), ordering="window")
    def window_display(self, obj: Policy) -> str:
        return duration_text(obj.window, working=_policy_is_working(obj))

    @admin.display(description=_("reminders before due"))
    def reminders_display(self, obj: Policy) -> str:
        working = _policy_is_working(obj)
        return list_text(duration_text(o, working=working) for o in obj.reminder_offsets) or "—"


@admin.register(ReplyOption)
class ReplyOptionAdmin(admin.ModelAdmin):
    list_display = [
        "platform",
        "label",
        "label_en_display",
        "settles",
        "escalates",
        "free_text",
        "requires_remark",
        "requires_agreed_at",
        "requires_evidence",
        "min_contact_attempts",
        "position",
        "is_active",
    ]
    list_filter = ["platform", "settles", "escalates", "is_active"]
    list_editable = ["position", "is_active"]

    @admin.display(description=_("label (English)"), ordering="label_en")
    def label_en_display(self, obj: ReplyOption):
        # English on purpose (what the English dashboard shows): marked as such.
        return format_html('<span lang="en">{}</span>', obj.label_en)


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue (open, past due)")), ("no", _("Not overdue"))]

    def queryset(self, request, queryset):
        overdue = {"state": TicketState.OPEN, "due_at__lt": timezone.now()}
        if self.value() == "yes":
            return queryset.filter(**overdue)
        if self.value() == "no":
            return queryset.exclude(**overdue)
        return queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TicketEventInline(ReadOnlyInline):
    model = TicketEvent
    fields = ["at", "action", "from_state", "to_state", "actor", "reason", "details"]
    readonly_fields = fields
    ordering = ["at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*EVENT_RELATED)

    @admin.display(description=_("details"))
    def details(self, obj: TicketEvent):
        return event_details(obj)


class ContactAttemptInline(ReadOnlyInline):
    model = ContactAttempt
    fields = ["attempted_at", "channel", "note", "counts", "logged_by", "logged_at"]
    readonly_fields = fields


class EvidenceInline(ReadOnlyInline):
    model = Evidence
    fields = ["original_name", "content_type", "size", "sha256", "uploaded_by", "uploaded_at"]
    readonly_fields = fields


class ReplyInline(ReadOnlyInline):
    model = Reply
    fields = ["option", "settles", "remark", "agreed_at", "replied_by", "replied_at"]
    readonly_fields = fields


class TicketStaffForm(forms.ModelForm):
    """The only things staff change on a ticket in admin: the assignee and a note.

    Everything else is read-only here; each rule-bound field changes only through its
    own service (an exemption moves due_at, a transition moves state)."""

    note = forms.CharField(
        label=_("staff note"),
        required=False,
        max_length=STAFF_NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Added to the ticket's timeline for platform staff; the store does not see it."
        ),
    )

    class Meta:
        model = Ticket
        fields = ["assignee"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "assignee" in self.fields and self.instance.pk:
            self.fields["assignee"].queryset = (
                get_user_model()
                .objects.filter(memberships__store_id=self.instance.store_id)
                .order_by("username")
            )

    def clean_assignee(self):
        assignee = self.cleaned_data["assignee"]
        store_check_assignee(store=self.instance.store, assignee=assignee)
        return assignee


# --- big change lists: what each row costs ---------------------------------------------
# A change list row goes through admin's generic cell rendering; at platform volume
# (bench_pages, 1 M tickets) the rows' Python, not SQL, was most of a page (~0.5 ms a
# row). The staff's big lists show 25 rows, and what every row repeated (a reverse() per
# link, a widget template per checkbox) is done once per page.

LIST_PER_PAGE = 25


class OneReverseChangeList(ChangeList):
    """A change list whose rows link to their change page through one reverse()."""

    @cached_property
    def _change_url(self) -> Callable[[object], str]:
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
        return id_url(name, current_app=self.model_admin.admin_site.name)

    def url_for_result(self, result) -> str:
        return self._change_url(getattr(result, self.pk_attname))


class EstimatedCountPaginator(Paginator):
    """An unfiltered list of a big table counts from the planner's statistics
    (pg_class.reltuples, kept by autovacuum/ANALYZE) instead of COUNT(*) over every
    row; any filtered or searched list, or a small table, counts exactly."""

    ESTIMATE_FROM = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] >= self.ESTIMATE_FROM:
                return int(row[0])
        return super().count


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "store",
        "kind",
        "category",
        "state",
        "created_at",
        "due_at",
        "time_remaining",
        "worry_free",
    ]
    list_filter = ["store__platform", "state", "kind", OverdueFilter, "category", "worry_free"]
    # The search box searches what the merchants' queue searches (numbers, name, phone
    # tail, summary) through its trigram index: see get_search_results.
    search_fields = ["number"]
    # A million tickets: newest first walks the created_at index; no date drill-down
    # (its min/max and month list scan the table); an unfiltered list's count is the
    # planner's estimate (bench_pages: admin ticket list 3.3 s p95 before).
    ordering = ["-created_at", "-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = LIST_PER_PAGE
    form = TicketStaffForm
    # Every field a rule depends on is read-only: a ticket's store, kind, policy,
    # worry-free flag, number, deadline, state and creation change only through the
    # services (an edit here would keep the old policy and due time, or move a ticket
    # onto an excluded business line, with no event written).
    readonly_fields = [
        "number",
        "store",
        "kind",
        "policy",
        "worry_free",
        "category",
        "order_number",
        "summary",
        "consumer_name",
        "consumer_phone",
        "state",
        "created_at",
        "due_at",
        "priority",
        "escalated_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": readonly_fields}),
        (_("Staff changes"), {"fields": ["assignee", "note"]}),
    ]
    inlines = [ReplyInline, ContactAttemptInline, EvidenceInline, TicketEventInline]
    actions = ["confirm_selected"]

    def has_delete_permission(self, request, obj=None):
        # A ticket is a record of what the platform and the store did; it is never deleted.
        return False

    def save_model(self, request, obj, form, change):
        # The form only validated the input; the change itself is the service's.
        ticket_staff_update(
            ticket=obj,
            user=request.user,
            assignee=form.cleaned_data.get("assignee"),
            note=form.cleaned_data.get("note", ""),
        )
        obj.refresh_from_db()

    def get_queryset(self, request):
        return tickets_with_clock(super().get_queryset(request))

    def get_changelist(self, request, **kwargs):
        return OneReverseChangeList

    # admin's own checkbox, as its widget renders it, without a template per row.
    def action_checkbox(self, obj: Ticket):
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME,
            obj.pk,
            format_html(gettext("Select this object for an action - {}"), str(obj)),
        )

    def get_search_results(self, request, queryset, search_term):
        return search_filter(queryset, search_term), False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<int:object_id>/escalate/",
                self.admin_site.admin_view(self.escalate_view),
                name="{}_{}_escalate".format(*info),
            ),
            *super().get_urls(),
        ]

    def has_confirm_permission(self, request) -> bool:
        return request.user.has_perm("tickets.confirm_ticket")

    @admin.action(description=_("Confirm selected replies"), permissions=["confirm"])
    def confirm_selected(self, request, queryset):
        confirmed = 0
        # One service call (and one short transaction) per ticket: a refusal on one
        # ticket leaves the others confirmed.
        for ticket in queryset.order_by("pk"):
            try:
                ticket_confirm(ticket=ticket, user=request.user)
            except (ValidationError, PermissionDenied) as error:
                messages.error(request, f"{ticket.number}: {error_text(error)}")
            else:
                self.log_change(request, ticket, gettext("Confirmed the reply; ticket closed."))
                confirmed += 1
        if confirmed:
            messages.success(
                request,
                ngettext(
                    "%(count)d ticket confirmed and closed.",
                    "%(count)d tickets confirmed and closed.",
                    confirmed,
                )
                % {"count": confirmed},
            )

    def escalate_view(self, request, object_id: int):
        """CS sends a ticket to platform intervention when the consumer objects."""
        if not request.user.has_perm("tickets.escalate_ticket"):
            raise PermissionDenied
        ticket = get_object_or_404(Ticket.objects.select_related("store"), pk=object_id)
        change_url = reverse(
            f"{self.admin_site.name}:tickets_ticket_change",
            args=[ticket.pk],
            current_app=self.admin_site.name,
        )
        if request.method == "POST":
            form = EscalateForm(request.POST)
            if form.is_valid():
                try:
                    ticket_escalate(
                        ticket=ticket, user=request.user, reason=form.cleaned_data["reason"]
                    )
                except (ValidationError, PermissionDenied) as error:
                    add_service_error(form, error)
                else:
                    done = gettext("Escalated to platform intervention.")
                    self.log_change(request, ticket, done)
                    messages.success(request, f"{ticket.number}: {done}")
                    return redirect(change_url)
        else:
            form = EscalateForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Escalate ticket %(number)s") % {"number": ticket.number},
            "original": ticket,
            "change_url": change_url,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/tickets/ticket/escalate.html", context)

    def has_add_permission(self, request):
        # Tickets are opened through the intake service (API or dashboard), never by hand here.
        return False

    @admin.display(description=_("time remaining"))
    def time_remaining(self, obj: Ticket) -> str:
        if obj.state != TicketState.OPEN:
            return "—"
        now = timezone.now()
        text = format_remaining(ticket_remaining(ticket=obj, now=now))
        if ticket_clock_paused(ticket=obj, now=now):
            text += " " + str(_("(clock paused)"))
        return text


class ServiceWrittenAdmin(admin.ModelAdmin):
    """Rows written only by the services: staff read them, never add, edit or delete here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TicketEvent)
class TicketEventAdmin(ServiceWrittenAdmin):
    list_display = ["at", "ticket", "action", "from_state", "to_state", "actor", "reason"]
    list_filter = ["action", "to_state"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket", "actor"]
    # The payload as labelled lines instead of its JSON.
    fields = ["ticket", "action", "from_state", "to_state", "actor", "at", "reason", "details"]
    readonly_fields = ["details"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*EVENT_RELATED)

    @admin.display(description=_("details"))
    def details(self, obj: TicketEvent):
        return event_details(obj)


@admin.register(ContactAttempt)
class ContactAttemptAdmin(ServiceWrittenAdmin):
    list_display = ["ticket", "channel", "attempted_at", "counts", "logged_by"]
    list_filter = ["channel", "counts"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket", "logged_by"]
    readonly_fields = ["counts", "logged_by", "logged_at"]


@admin.register(Evidence)
class EvidenceAdmin(admin.ModelAdmin):
    list_display = [
        "original_name",
        "ticket",
        "content_type",
        "size",
        "uploaded_at",
        "forged",
        "download_link",
    ]
    search_fields = ["ticket__number", "sha256"]
    # "forgery" is arbitration.Violation.evidence's reverse one-to-one: no query per row.
    list_select_related = ["ticket", "forgery"]
    readonly_fields = ["sha256", "size", "content_type", "uploaded_by", "uploaded_at"]

    def has_add_permission(self, request):
        # Evidence arrives through evidence_upload (content-type and size checks, SHA-256).
        return False

    def has_change_permission(self, request, obj=None):
        # What a store submitted as proof is not edited afterwards.
        return False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<int:object_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="{}_{}_download".format(*info),
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("forged"), boolean=True)
    def forged(self, obj: Evidence) -> bool:
        return hasattr(obj, "forgery")

    @admin.display(description=pgettext_lazy("evidence column", "file"))
    def download_link(self, obj: Evidence):
        url = reverse(
            f"{self.admin_site.name}:tickets_evidence_download",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )
        return format_html('<a href="{}">{}</a>', url, _("Download"))

    def get_list_display(self, request):
        # Marking forged needs a severity, a reason and a confirmation naming the points
        # and the closure threshold: the arbitrators' page for it, linked from each row.
        if request.user.has_perm("tickets.mark_evidence_forged"):
            return [*self.list_display, "mark_forged_link"]
        return self.list_display

    @admin.display(description=pgettext_lazy("evidence column", "finding"))
    def mark_forged_link(self, obj: Evidence):
        if hasattr(obj, "forgery"):
            return "—"
        url = reverse(
            f"{self.admin_site.name}:arbitration_escalatedticket_forged",
            args=[obj.ticket_id, obj.pk],
            current_app=self.admin_site.name,
        )
        return format_html('<a href="{}">{}</a>', url, _("Mark forged…"))

    def download_view(self, request, object_id: int):
        """Evidence files are never served from MEDIA_URL; staff download them here."""
        if not request.user.has_perm("tickets.view_evidence"):
            raise PermissionDenied
        item = get_object_or_404(Evidence, pk=object_id)
        try:
            handle = item.file.open("rb")
        except FileNotFoundError:
            raise Http404(gettext("The evidence file is missing from storage.")) from None
        return FileResponse(
            handle,
            as_attachment=True,
            filename=item.original_name,
            content_type=item.content_type,
        )


@admin.register(Reply)
class ReplyAdmin(ServiceWrittenAdmin):
    list_display = ["ticket", "option", "settles", "replied_by", "replied_at"]
    list_filter = ["option", "settles"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket", "replied_by"]


@admin.register(ExemptionRequest)
class ExemptionRequestAdmin(ServiceWrittenAdmin):
    """Ops decide exemption requests (JD 免责申请) through the Decide view; a grant extends
    the ticket's due_at. Merchants file them; nobody adds or edits them here."""

    list_display = [
        "ticket",
        "store",
        "requested_minutes",
        "short_reason",
        "status",
        "requested_at",
        "decide_link",
    ]
    list_filter = ["status"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket__store"]
    # Pending first (they wait for ops), then the oldest request first.
    ordering = [
        Case(When(status=ExemptionRequest.Status.PENDING, then=Value(0)), default=Value(1)),
        "requested_at",
        "pk",
    ]

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<int:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="{}_{}_decide".format(*info),
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("store"), ordering="ticket__store__name")
    def store(self, obj: ExemptionRequest):
        return obj.ticket.store

    @admin.display(description=_("reason"))
    def short_reason(self, obj: ExemptionRequest) -> str:
        return Truncator(obj.reason).chars(60)

    @admin.display(description=pgettext_lazy("exemption column", "decide"))
    def decide_link(self, obj: ExemptionRequest):
        if obj.status != ExemptionRequest.Status.PENDING:
            return "—"
        url = reverse(
            f"{self.admin_site.name}:tickets_exemptionrequest_decide",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )
        return format_html('<a class="button" href="{}">{}</a>', url, _("Decide"))

    def decide_view(self, request, object_id: int):
        if not request.user.has_perm("tickets.decide_exemption"):
            raise PermissionDenied
        exemption = get_object_or_404(
            ExemptionRequest.objects.select_related("ticket__store", "requested_by"), pk=object_id
        )
        if request.method == "POST":
            form = ExemptionDecisionForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    if data["decision"] == ExemptionDecisionForm.GRANT:
                        exemption = exemption_grant(
                            request=exemption,
                            user=request.user,
                            minutes=data["minutes"],
                            note=data["note"],
                        )
                        done = gettext("Granted %(minutes)d minutes.") % {
                            "minutes": exemption.granted_minutes
                        }
                    else:
                        exemption = exemption_reject(
                            request=exemption, user=request.user, note=data["note"]
                        )
                        done = gettext("Rejected.")
                except (ValidationError, PermissionDenied) as error:
                    add_service_error(form, error)
                else:
                    self.log_change(request, exemption, done)
                    messages.success(request, f"{exemption.ticket}: {done}")
                    return redirect(f"{self.admin_site.name}:tickets_exemptionrequest_changelist")
        else:
            form = ExemptionDecisionForm(initial={"minutes": exemption.requested_minutes})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Decide exemption request for ticket %(number)s")
            % {"number": exemption.ticket.number},
            "exemption": exemption,
            "ticket": exemption.ticket,
            "pending": exemption.status == ExemptionRequest.Status.PENDING,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/tickets/exemptionrequest/decide.html", context)


@admin.register(Reminder)
class ReminderAdmin(ServiceWrittenAdmin):
    list_display = ["ticket", "offset_minutes", "fire_at", "status", "sent_at"]
    list_filter = ["status"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket"]


@admin.register(Notification)
class NotificationAdmin(ServiceWrittenAdmin):
    list_display = ["created_at", "store", "kind", "title", "read_at"]
    list_filter = ["kind", "store__platform"]
    search_fields = ["title", "store__code"]
    list_select_related = ["store"]


@admin.register(Delivery)
class DeliveryAdmin(ServiceWrittenAdmin):
    """The outbox: what was sent, what waits for a retry, and why it failed."""

    list_display = ["created_at", "channel", "store", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "channel"]
    search_fields = ["key", "store__code"]
    list_select_related = ["store"]
    fields = [
        "key_code",
        "channel",
        "store",
        "ticket",
        "subject",
        "body",
        "link",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "claimed_at",
        "sent_at",
        "last_error",
    ]
    readonly_fields = ["key_code", "last_error"]

    # The dedupe key is an identifier ("judged:6:email"), shown as such.
    @admin.display(description=_("key"))
    def key_code(self, obj: Delivery):
        return format_html("<code>{}</code>", obj.key)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """The intake API's tokens: ops see them, set an expiry and revoke; only
    `manage.py create_api_token` makes one (its key is shown once, at the command line)."""

    list_display = ["name", "user", "status", "created_at", "expires_at", "last_used_at"]
    list_filter = ["is_active", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "user__username"]
    list_select_related = ["user"]
    fields = ["name", "user", "created_at", "last_used_at", "expires_at", "revoked_at"]
    readonly_fields = ["user", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("status"))
    def status(self, obj: ApiToken) -> str:
        if obj.revoked_at is not None:
            return gettext("Revoked")
        if obj.expires_at is not None and obj.expires_at <= timezone.now():
            return gettext("Expired")
        if not obj.is_active:
            return gettext("Inactive")
        return gettext("Active")

    @admin.action(description=_("Revoke selected API tokens"), permissions=["change"])
    def revoke(self, request, queryset):
        tokens = list(queryset.filter(revoked_at__isnull=True))
        count = api_tokens_revoke(tokens=tokens)
        for token in tokens:
            self.log_change(request, token, [{"changed": {"fields": ["revoked at"]}}])
        self.message_user(
            request,
            ngettext(
                "%(count)d API token revoked: requests with it now get 401.",
                "%(count)d API tokens revoked: requests with them now get 401.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

"""The arbitrators' side of the admin: the escalated queue, the judge view, and
read-only lists of what the services recorded (judgments, compensation, violations).

Admin code only calls services (arbitration.services); the rules live there.
"""

from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, LogEntry
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from tickets.admin import ServiceWrittenAdmin
from tickets.models import Ticket, TicketState
from tickets.selectors import format_remaining

from .forms import CompensateForm, JudgeForm, add_service_error
from .models import (
    Compensation,
    EscalatedTicket,
    Judgment,
    PenaltyEntry,
    PenaltyPolicy,
    PenaltyRule,
    SettlementStatement,
    Violation,
)
from .penalties import SHANGHAI, parse_month, settlement_close_month
from .services.decisions import ticket_compensate, ticket_judge


def _may_decide(user) -> bool:
    return user.has_perm("tickets.judge_ticket") or user.has_perm("tickets.compensate_ticket")


@admin.register(EscalatedTicket)
class EscalatedTicketAdmin(ServiceWrittenAdmin):
    """待判责队列: escalated tickets, CRC high-risk first, then the longest waiting."""

    list_display = [
        "ticket_number",
        "store",
        "platform",
        "kind",
        "worry_free",
        "escalated_at",
        "waited",
        "decide_link",
    ]
    list_display_links = None
    list_filter = ["store__platform", "kind", "worry_free"]
    search_fields = ["number", "order_number"]
    # One query for the rows whatever their number: store is the only relation shown.
    list_select_related = ["store"]
    ordering = ["-priority", "escalated_at", "pk"]
    actions = None

    def get_queryset(self, request):
        return super().get_queryset(request).filter(state=TicketState.ESCALATED)

    def has_view_permission(self, request, obj=None):
        # The role groups give arbitrators the decision permissions, not a view
        # permission on this proxy; whoever may decide may see the queue.
        return _may_decide(request.user) or super().has_view_permission(request, obj)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<int:object_id>/judge/",
                self.admin_site.admin_view(self.judge_view),
                name="{}_{}_judge".format(*info),
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("platform ticket number"), ordering="number")
    def ticket_number(self, obj: Ticket):
        return format_html('<a href="{}">{}</a>', self._judge_url(obj), obj.number)

    @admin.display(description=_("platform"), ordering="store__platform")
    def platform(self, obj: Ticket) -> str:
        return obj.store.get_platform_display()

    # Waiting longest = escalated earliest.
    @admin.display(description=_("waiting for"), ordering="-escalated_at")
    def waited(self, obj: Ticket) -> str:
        if obj.escalated_at is None:
            return "—"
        return format_remaining(timezone.now() - obj.escalated_at)

    @admin.display(description=pgettext_lazy("queue column", "decide"))
    def decide_link(self, obj: Ticket):
        label = _("Compensate") if obj.worry_free else _("Judge")
        return format_html('<a class="button" href="{}">{}</a>', self._judge_url(obj), label)

    def _judge_url(self, obj: Ticket) -> str:
        return reverse(
            f"{self.admin_site.name}:arbitration_escalatedticket_judge",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )

    def judge_view(self, request, object_id: int):
        """纠纷判责, or for a worry-free (无忧购) order its compensation, on one ticket."""
        ticket = get_object_or_404(
            Ticket.objects.select_related(
                "store", "policy", "merchant_reply__option", "merchant_reply__replied_by"
            ),
            pk=object_id,
        )
        compensation = ticket.worry_free
        perm = "tickets.compensate_ticket" if compensation else "tickets.judge_ticket"
        if not request.user.has_perm(perm):
            raise PermissionDenied
        form_class = CompensateForm if compensation else JudgeForm

        if request.method == "POST":
            form = form_class(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    if compensation:
                        record = ticket_compensate(
                            ticket=ticket,
                            user=request.user,
                            amount=data["amount"],
                            note=data["note"],
                        )
                        done = gettext("Compensated %(amount)s CNY; ticket closed.") % {
                            "amount": record.amount
                        }
                    else:
                        record = ticket_judge(
                            ticket=ticket,
                            user=request.user,
                            merchant_liable=data["merchant_liable"],
                            refund_amount=data["refund_amount"],
                            reasoning=data["reasoning"],
                        )
                        done = (
                            gettext("Judged: merchant liable, refund %(amount)s CNY.")
                            if record.merchant_liable
                            else gettext("Judged: merchant not liable, refund %(amount)s CNY.")
                        ) % {"amount": record.refund_amount}
                except (ValidationError, PermissionDenied) as error:
                    add_service_error(form, error)
                else:
                    self.log_change(request, ticket, done)
                    messages.success(request, f"{ticket.number}: {done}")
                    return redirect(
                        f"{self.admin_site.name}:arbitration_escalatedticket_changelist"
                    )
        else:
            form = form_class()

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": (
                gettext("Compensate ticket %(number)s")
                if compensation
                else gettext("Judge ticket %(number)s")
            )
            % {"number": ticket.number},
            "ticket": ticket,
            "reply": getattr(ticket, "merchant_reply", None),
            "contacts": ticket.contacts.select_related("logged_by"),
            "evidence": ticket.evidence.select_related("forgery", "uploaded_by"),
            "events": ticket.events.select_related("actor"),
            "form": form,
            "compensation": compensation,
            "decidable": ticket.state == TicketState.ESCALATED,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/arbitration/escalatedticket/judge.html", context)


@admin.register(Judgment)
class JudgmentAdmin(ServiceWrittenAdmin):
    list_display = [
        "ticket",
        "store",
        "merchant_liable",
        "refund_amount",
        "judged_by",
        "judged_at",
    ]
    list_filter = ["merchant_liable", "ticket__store__platform"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket__store", "judged_by"]
    date_hierarchy = "judged_at"

    @admin.display(description=_("store"), ordering="ticket__store__name")
    def store(self, obj: Judgment):
        return obj.ticket.store


@admin.register(Compensation)
class CompensationAdmin(ServiceWrittenAdmin):
    list_display = ["ticket", "store", "amount", "decided_by", "decided_at"]
    list_filter = ["ticket__store__platform"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket__store", "decided_by"]
    date_hierarchy = "decided_at"

    @admin.display(description=_("store"), ordering="ticket__store__name")
    def store(self, obj: Compensation):
        return obj.ticket.store


@admin.register(Violation)
class ViolationAdmin(ServiceWrittenAdmin):
    list_display = [
        "store",
        "ticket",
        "kind",
        "severity",
        "points",
        "evidence",
        "found_by",
        "found_at",
    ]
    list_filter = ["severity", "kind", "store__platform"]
    search_fields = ["ticket__number", "store__name", "store__code"]
    list_select_related = ["store", "ticket", "evidence", "found_by"]
    date_hierarchy = "found_at"


# --- JD ops consequences: penalty rules and policy (ops data), the ledger, settlements ----


@admin.register(PenaltyRule)
class PenaltyRuleAdmin(admin.ModelAdmin):
    """The n-th timeout of a store in a month gets the rule with the highest threshold ≤ n."""

    list_display = ["platform", "from_count", "action", "points", "amount", "is_active"]
    list_display_links = ["from_count"]
    list_editable = ["action", "points", "amount", "is_active"]
    list_filter = ["platform", "action", "is_active"]


@admin.register(PenaltyPolicy)
class PenaltyPolicyAdmin(admin.ModelAdmin):
    list_display = ["platform", "closure_points", "window_days"]
    list_display_links = ["platform"]
    list_editable = ["closure_points", "window_days"]


class MonthFilter(admin.SimpleListFilter):
    """The months that have rows, newest first (one query), as YYYY-MM."""

    title = _("month")
    parameter_name = "month"

    def lookups(self, request, model_admin):
        months = model_admin.get_queryset(request).dates("month", "month", order="DESC")
        return [(month.isoformat(), f"{month:%Y-%m}") for month in months]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            month = date.fromisoformat(self.value())
        except ValueError:
            return queryset.none()
        return queryset.filter(month=month)


@admin.register(PenaltyEntry)
class PenaltyEntryAdmin(ServiceWrittenAdmin):
    """The penalty ledger: written only by the nightly batch (arbitration.penalties)."""

    list_display = [
        "occurred_at",
        "store",
        "ticket",
        "month_label",
        "ordinal",
        "action",
        "points",
        "amount",
    ]
    list_filter = [MonthFilter, "action", ("store", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["ticket__number", "store__code"]
    # One query for the rows whatever their number: store and ticket are shown.
    list_select_related = ["store", "ticket"]
    ordering = ["-occurred_at", "-pk"]
    actions = None

    @admin.display(description=_("month"), ordering="month")
    def month_label(self, obj: PenaltyEntry) -> str:
        return f"{obj.month:%Y-%m}"


CLOSE_MONTH_PERMISSION = "arbitration.add_settlementstatement"


class CloseMonthForm(forms.Form):
    month = forms.CharField(
        label=_("Month"),
        max_length=7,
        help_text=_("YYYY-MM, a month in Beijing time that is over."),
        widget=forms.TextInput(attrs={"placeholder": "2026-11", "size": 8}),
    )

    def clean_month(self) -> date:
        try:
            return parse_month(self.cleaned_data["month"])
        except ValueError:
            raise ValidationError(_("Enter a month as YYYY-MM."), code="invalid") from None


@admin.register(SettlementStatement)
class SettlementStatementAdmin(ServiceWrittenAdmin):
    """Monthly JD settlements: written only by settlement_close_month."""

    list_display = [
        "month_label",
        "store",
        "payable",
        "fines",
        "deducted_from_payable",
        "deposit_before",
        "deducted_from_deposit",
        "deposit_after",
        "shortfall_display",
        "net_payable",
        "points_in_window",
        "closure_flag",
    ]
    list_filter = [MonthFilter, "closure_flag"]
    search_fields = ["store__code", "store__name"]
    list_select_related = ["store"]
    ordering = ["-month", "store__code"]
    actions = None

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "close-month/",
                self.admin_site.admin_view(self.close_month_view),
                name="{}_{}_close_month".format(*info),
            ),
            *super().get_urls(),
        ]

    change_list_template = "admin/xietong/change_list_tool.html"

    def changelist_view(self, request, extra_context=None):
        url = None
        if request.user.has_perm(CLOSE_MONTH_PERMISSION):
            name = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}"
            url = reverse(f"{name}_close_month", current_app=self.admin_site.name)
        extra_context = {
            **(extra_context or {}),
            "tool_url": url,
            "tool_label": gettext("Close a month"),
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("month"), ordering="month")
    def month_label(self, obj: SettlementStatement) -> str:
        return f"{obj.month:%Y-%m}"

    # What neither the payable amount nor the deposit covered: ops must chase it.
    @admin.display(description=_("shortfall"), ordering="shortfall")
    def shortfall_display(self, obj: SettlementStatement):
        if obj.shortfall > 0:
            return format_html(
                '<strong class="shortfall" style="color: var(--error-fg)">{}</strong>',
                obj.shortfall,
            )
        return obj.shortfall

    def close_month_view(self, request):
        """Close an Asia/Shanghai month for every JD store (re-closing replaces)."""
        # Superusers have every permission, so has_perm covers them too.
        if not request.user.has_perm(CLOSE_MONTH_PERMISSION):
            raise PermissionDenied
        if request.method == "POST":
            form = CloseMonthForm(request.POST)
            if form.is_valid():
                month = form.cleaned_data["month"]
                try:
                    statements = settlement_close_month(month=month)
                except ValidationError as error:
                    add_service_error(form, error)
                else:
                    done = self._closed_message(month, statements)
                    LogEntry.objects.log_actions(
                        user_id=request.user.pk,
                        queryset=statements,
                        action_flag=ADDITION,
                        change_message=done,
                    )
                    messages.success(request, done)
                    name = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}"
                    changelist = reverse(f"{name}_changelist", current_app=self.admin_site.name)
                    return redirect(f"{changelist}?month={month.isoformat()}")
        else:
            today = timezone.now().astimezone(SHANGHAI).date()
            last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
            form = CloseMonthForm(initial={"month": f"{last_month:%Y-%m}"})

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Close a month"),
            "intro": gettext(
                "Every JD store gets the month's statement: fines come off the payable "
                "amount, then off the deposit, which never goes below zero. Closing a month "
                "again replaces its statements and does not deduct the deposit twice."
            ),
            "submit_label": gettext("Close the month"),
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/xietong/form_page.html", context)

    @staticmethod
    def _closed_message(month: date, statements: list[SettlementStatement]) -> str:
        shortfalls = sum(1 for s in statements if s.shortfall > 0)
        flagged = sum(1 for s in statements if s.closure_flag)
        return ngettext(
            "Closed %(month)s: %(count)d JD store statement (%(shortfalls)d with a "
            "shortfall, %(flagged)d over the closure threshold).",
            "Closed %(month)s: %(count)d JD store statements (%(shortfalls)d with a "
            "shortfall, %(flagged)d over the closure threshold).",
            len(statements),
        ) % {
            "month": f"{month:%Y-%m}",
            "count": len(statements),
            "shortfalls": shortfalls,
            "flagged": flagged,
        }


from . import admin_appeals, admin_reports  # noqa: F401,E402

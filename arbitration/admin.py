"""The arbitrators' side of the admin: the escalated queue, the judge view, and
read-only lists of what the services recorded (judgments, compensation, violations).

Admin code only calls services (arbitration.services); the rules live there.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from tickets.admin import ServiceWrittenAdmin
from tickets.models import Ticket, TicketState
from tickets.selectors import format_remaining

from .forms import CompensateForm, JudgeForm, add_service_error
from .models import Compensation, EscalatedTicket, Judgment, Violation
from .services import ticket_compensate, ticket_judge


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

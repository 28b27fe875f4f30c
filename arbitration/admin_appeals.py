"""Appeals (申诉) in the admin: the queue (waiting first, oldest first), one page with
the ticket, the decision, the store's statement and new evidence, where an arbitrator
other than the one who decided upholds or overturns it; and the appeal window (ops).

Imported at the end of arbitration/admin.py. Appeals are written only by the services
(the store files, an arbitrator decides): nobody adds, edits or deletes them here.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, Value, When
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from tickets.admin import LIST_PER_PAGE, ServiceWrittenAdmin
from tickets.links import id_url
from tickets.selectors import format_remaining
from tickets.views.common import stored_file_response

from .forms import add_service_error
from .models import Appeal, AppealEvidence, AppealPolicy, AppealState
from .services.appeals import appeal_decide


class AppealDecisionForm(forms.Form):
    OVERTURN, UPHOLD = "overturn", "uphold"

    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            (UPHOLD, _("Uphold: the decision stands")),
            (OVERTURN, _("Overturn: the decision is void")),
        ],
        widget=forms.RadioSelect,
    )
    reasoning = forms.CharField(
        label=_("Reasoning"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_("Required: the store reads it."),
    )


class AppealQueueChangeList(ChangeList):
    """Each row's decide link through one reverse() for the page, not one per row."""

    def get_results(self, request):
        super().get_results(request)
        site = self.model_admin.admin_site.name
        decide_url = id_url(f"{site}:arbitration_appeal_decide", current_app=site)
        self.result_list = list(self.result_list)
        for appeal in self.result_list:
            appeal.decide_url = decide_url(appeal.pk)


@admin.register(Appeal)
class AppealAdmin(ServiceWrittenAdmin):
    list_display = [
        "ticket_number",
        "store",
        "decision_summary",
        "filed_at",
        "waiting",
        "state",
        "decide_link",
    ]
    list_display_links = None
    list_filter = ["state", "store__platform"]
    search_fields = ["ticket__number", "store__name", "store__code"]
    list_select_related = ["ticket", "store", "judgment", "violation"]
    # The queue: waiting appeals first, the oldest first.
    ordering = [
        Case(When(state=AppealState.FILED, then=Value(0)), default=Value(1)),
        "filed_at",
        "pk",
    ]
    show_full_result_count = False
    list_per_page = LIST_PER_PAGE

    def get_changelist(self, request, **kwargs):
        return AppealQueueChangeList

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("arbitration.decide_appeal") or super().has_view_permission(
            request, obj
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<int:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="{}_{}_decide".format(*info),
            ),
            path(
                "<int:object_id>/files/<int:file_id>/",
                self.admin_site.admin_view(self.file_view),
                name="{}_{}_file".format(*info),
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("platform ticket number"), ordering="ticket__number")
    def ticket_number(self, obj: Appeal):
        return format_html('<a class="nowrap" href="{}">{}</a>', obj.decide_url, obj.ticket.number)

    @admin.display(description=_("decision appealed"))
    def decision_summary(self, obj: Appeal) -> str:
        if obj.judgment_id:
            return gettext("Judgment: merchant liable, refund %(amount)s CNY") % {
                "amount": obj.judgment.refund_amount
            }
        return gettext("Forged evidence: %(points)d points") % {"points": obj.violation.points}

    @admin.display(description=_("waiting for"))
    def waiting(self, obj: Appeal) -> str:
        if obj.state != AppealState.FILED:
            return "—"
        return format_remaining(timezone.now() - obj.filed_at)

    @admin.display(description=pgettext_lazy("queue column", "decide"))
    def decide_link(self, obj: Appeal):
        label = _("Decide") if obj.state == AppealState.FILED else _("View")
        return format_html('<a class="button" href="{}">{}</a>', obj.decide_url, label)

    def decide_view(self, request, object_id: int):
        if not request.user.has_perm("arbitration.decide_appeal"):
            raise PermissionDenied
        appeal = get_object_or_404(
            Appeal.objects.select_related(
                "ticket__store",
                "ticket__merchant_reply__option",
                "judgment__judged_by",
                "violation__evidence",
                "violation__found_by",
                "filed_by",
                "decided_by",
            ).prefetch_related("files"),
            pk=object_id,
        )
        pending = appeal.state == AppealState.FILED
        form = AppealDecisionForm(request.POST or None) if pending else None
        if pending and request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            overturn = data["decision"] == AppealDecisionForm.OVERTURN
            try:
                appeal = appeal_decide(
                    appeal=appeal, user=request.user, overturn=overturn, reasoning=data["reasoning"]
                )
            except (ValidationError, PermissionDenied) as error:
                add_service_error(form, error)
            else:
                done = gettext("Overturned.") if overturn else gettext("Upheld.")
                self.log_change(request, appeal, done)
                messages.success(request, f"{appeal.ticket.number}: {done}")
                return redirect(f"{self.admin_site.name}:arbitration_appeal_changelist")
        decided_by_id = (
            appeal.judgment.judged_by_id if appeal.judgment_id else appeal.violation.found_by_id
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Appeal on ticket %(number)s") % {"number": appeal.ticket.number},
            "appeal": appeal,
            "ticket": appeal.ticket,
            "pending": pending,
            "same_arbitrator": decided_by_id == request.user.pk,
            "form": form,
            "media": self.media + (form.media if form else forms.Media()),
        }
        return TemplateResponse(request, "admin/arbitration/appeal/decide.html", context)

    def file_view(self, request, object_id: int, file_id: int):
        """A file the store sent with its appeal, shown inline; never from MEDIA_URL."""
        if not (
            request.user.has_perm("arbitration.view_appealevidence")
            or request.user.has_perm("arbitration.decide_appeal")
        ):
            raise PermissionDenied
        item = get_object_or_404(AppealEvidence, pk=file_id, appeal_id=object_id)
        return stored_file_response(
            item.file, content_type=item.content_type, filename=item.original_name
        )


@admin.register(AppealPolicy)
class AppealPolicyAdmin(admin.ModelAdmin):
    """How many days a store has to appeal; ops change it (the role has change only)."""

    list_display = ["platform", "window_days"]
    list_editable = ["window_days"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

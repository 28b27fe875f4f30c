"""The arbitrators' side of the admin: the escalated queue, the judge view, and
read-only lists of what the services recorded (judgments, compensation, violations).

Admin code only calls services (arbitration.services); the rules live there.
"""

from datetime import date, timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import cache_control
from django.views.decorators.clickjacking import xframe_options_sameorigin

from merchants.clock import SHANGHAI
from merchants.models import Platform
from tickets import evidence as evidence_files
from tickets.admin import LIST_PER_PAGE, ServiceWrittenAdmin
from tickets.durations import format_local
from tickets.links import id_url
from tickets.models import Evidence, Ticket, TicketEvent, TicketKind, TicketState
from tickets.selectors import timeline_entries
from tickets.services.common import require_state
from tickets.thumbnails import thumbnail_content_type
from tickets.views.common import stored_file_response

from .forms import CompensateForm, JudgeForm, MarkForgedForm, add_service_error
from .models import (
    VIOLATION_POINTS,
    Compensation,
    EscalatedTicket,
    Judgment,
    PenaltyEntry,
    PenaltyPolicy,
    PenaltyRule,
    SettlementStatement,
    Severity,
    Violation,
)
from .penalties import parse_month, settlement_close_month
from .selectors import (
    QUEUE_ORDER,
    StorePoints,
    StoreRate,
    queue_neighbours,
    queue_with_figures,
    reuse_flag_annotations,
    store_dispute_rate,
    store_points_in_window,
    ticket_evidence_flags,
)
from .services.decisions import ticket_compensate, ticket_judge
from .services.findings import evidence_mark_forged


def _may_decide(user) -> bool:
    return user.has_perm("tickets.judge_ticket") or user.has_perm("tickets.compensate_ticket")


def format_waiting(value: timedelta) -> str:
    """How long a ticket has waited, in words of the active language: 「3 小时 20 分」,
    "3 h 20 min", "2 d 5 h"."""
    minutes = max(int(value.total_seconds()), 0) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = {"days": days, "hours": hours, "minutes": minutes}
    if days:
        return pgettext("time waiting", "%(days)d d %(hours)d h") % parts
    if hours:
        return pgettext("time waiting", "%(hours)d h %(minutes)d min") % parts
    return pgettext("time waiting", "%(minutes)d min") % parts


def format_rate(rate: Decimal | None) -> str:
    return "—" if rate is None else f"{rate:.2f}%"


def forged_consequence(*, points: int, standing: StorePoints) -> tuple[str, bool]:
    """What marking a file forged does to the store: the sentence, and whether the
    closure threshold is reached with it."""
    total = standing.points + points
    facts = {
        "points": points,
        "total": total,
        "threshold": standing.threshold,
        "days": standing.window_days,
    }
    if standing.threshold is None:
        text = (
            gettext(
                "This adds %(points)d points: the store will have %(total)d in %(days)d days; "
                "no closure threshold is set for its platform."
            )
            % facts
        )
        return text, False
    reached = standing.reached(total)
    if reached:
        text = gettext(
            "This adds %(points)d points: the store will have %(total)d of %(threshold)d "
            "in %(days)d days — the closure threshold is reached."
        )
    else:
        text = gettext(
            "This adds %(points)d points: the store will have %(total)d of %(threshold)d "
            "in %(days)d days — the closure threshold is not reached."
        )
    return text % facts, reached


def judgment_consequence(*, merchant_liable: bool, rate: StoreRate | None) -> str:
    """What a judgment does to the store's dispute-refund rate (Taobao 纠纷退款率)."""
    if not merchant_liable:
        return gettext("Not liable: does not count toward the store's dispute-refund rate.")
    if rate is None or rate.rate is None:
        return gettext(
            "Liable: counts toward the store's dispute-refund rate (no rate over the "
            "last 30 days yet)."
        )
    return gettext(
        "Liable: counts toward the store's dispute-refund rate (now %(rate)s over 30 days)."
    ) % {"rate": format_rate(rate.rate)}


# The content type of a stored thumbnail, by its extension (tickets.thumbnails makes them).
# Evidence never changes once stored: the staff member's own browser may keep it a while.
_EVIDENCE_CACHE = cache_control(private=True, max_age=3600)


# The queue's columns that sort by a store figure (an annotation of the rows).
_FIGURE_ORDERINGS = {"dispute_rate_latest", "points_in_window"}


class EscalatedQueueChangeList(ChangeList):
    """The queue counted and paged on the tickets alone; the store figures are
    computed for the page's rows only.

    Annotated before counting, the figures' join on the store turned the count of
    ~30,000 escalated tickets into one index probe per store (bench_pages: ~20 ms of
    the page); only a sort by a figure needs them on every row.
    """

    def get_queryset(self, request, exclude_parameters=None):
        if self._sorted_by_figures():
            self.root_queryset = queue_with_figures(self.root_queryset, now=timezone.now())
        return super().get_queryset(request, exclude_parameters)

    def _sorted_by_figures(self) -> bool:
        for index in self.get_ordering_field_columns():
            field = self.list_display[index]
            attr = getattr(self.model_admin, field, None) if isinstance(field, str) else field
            if getattr(attr, "admin_order_field", None) in _FIGURE_ORDERINGS:
                return True
        return False

    def get_results(self, request):
        super().get_results(request)
        rows = self.result_list
        if not rows.query.annotations.keys() >= _FIGURE_ORDERINGS:
            rows = queue_with_figures(rows, now=timezone.now())
        judge_url = id_url(
            f"{self.model_admin.admin_site.name}:arbitration_escalatedticket_judge",
            current_app=self.model_admin.admin_site.name,
        )
        self.result_list = list(rows)
        for ticket in self.result_list:
            ticket.judge_url = judge_url(ticket.pk)


class ReuseFlagFilter(admin.SimpleListFilter):
    """Tickets with flagged evidence (the same file or a near copy on another ticket, or
    taken before the ticket): an EXISTS on the flags' ticket index, no join."""

    title = _("evidence reuse flagged")
    parameter_name = "reuse"

    def lookups(self, request, model_admin):
        return [
            ("any", _("Flagged")),
            ("other_store", _("Another store's evidence")),
            ("no", _("Not flagged")),
        ]

    def queryset(self, request, queryset):
        flagged = reuse_flag_annotations()
        if self.value() == "any":
            return queryset.filter(flagged["reuse_flagged"])
        if self.value() == "other_store":
            return queryset.filter(flagged["reuse_cross_store"])
        if self.value() == "no":
            return queryset.exclude(flagged["reuse_flagged"])
        return queryset


@admin.register(EscalatedTicket)
class EscalatedTicketAdmin(ServiceWrittenAdmin):
    """待判责队列: escalated tickets, CRC high-risk first, then the longest waiting.

    The arbitrators' workspace: the queue with each store's dispute-refund rate and
    points so far, the judge page (facts, reply, contacts, evidence previews, timeline,
    previous / next ticket) and the forged-evidence finding, each decision confirmed
    after a page that names its consequence.
    """

    change_list_template = "admin/arbitration/escalatedticket/change_list.html"
    list_display = [
        "ticket_number",
        "store",
        "platform",
        "kind_badge",
        "worry_free_flag",
        "waited",
        "dispute_rate",
        "points",
        "reuse_badge",
        "decide_link",
    ]
    list_display_links = None
    list_filter = ["store__platform", "kind", "worry_free", ReuseFlagFilter]
    search_fields = ["number", "order_number"]
    # One query for the rows whatever their number: store is the only relation shown,
    # and the store's figures are subqueries of that query (arbitration.selectors).
    list_select_related = ["store"]
    ordering = list(QUEUE_ORDER)
    actions = None
    # Arbitrators work the queue from the top (the judge page has next/previous); each
    # row's store figures and ten cells cost ~0.5 ms (bench_pages at 1 M: 50 rows p50
    # 53 ms, 25 rows 32 ms).
    list_per_page = LIST_PER_PAGE
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(state=TicketState.ESCALATED)

    def get_changelist(self, request, **kwargs):
        return EscalatedQueueChangeList

    def has_view_permission(self, request, obj=None):
        # The role groups give arbitrators the decision permissions, not a view
        # permission on this proxy; whoever may decide may see the queue.
        return _may_decide(request.user) or super().has_view_permission(request, obj)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        evidence = "<int:object_id>/evidence/<int:evidence_id>"
        return [
            path(
                "<int:object_id>/judge/",
                self.admin_site.admin_view(self.judge_view),
                name="{}_{}_judge".format(*info),
            ),
            path(
                f"{evidence}/forged/",
                self.admin_site.admin_view(self.forged_view),
                name="{}_{}_forged".format(*info),
            ),
            path(
                f"{evidence}/view/",
                # cacheable: the file never changes; _EVIDENCE_CACHE keeps it private.
                self.admin_site.admin_view(self.evidence_view, cacheable=True),
                name="{}_{}_evidence".format(*info),
            ),
            path(
                f"{evidence}/thumbnail/",
                self.admin_site.admin_view(self.evidence_thumbnail_view, cacheable=True),
                name="{}_{}_thumbnail".format(*info),
            ),
            *super().get_urls(),
        ]

    # --- the queue's columns ---------------------------------------------------------

    @admin.display(description=_("platform ticket number"), ordering="number")
    def ticket_number(self, obj: Ticket):
        return format_html('<a href="{}">{}</a>', obj.judge_url, obj.number)

    # The name alone: the platform has its own column (a store's str() repeats it).
    @admin.display(description=_("store"), ordering="store__name")
    def store(self, obj: Ticket):
        return format_html('<span title="{}">{}</span>', obj.store.code, obj.store.name)

    @admin.display(description=_("platform"), ordering="store__platform")
    def platform(self, obj: Ticket) -> str:
        # The choice's label by value: get_FOO_display() rebuilds the choices per call
        # (three a row made ~3 ms of the queue's page).
        return Platform(obj.store.platform).label

    # Short headers keep the queue within 1440 px in English too.
    @admin.display(
        description=pgettext_lazy("queue column", "worry-free"), boolean=True, ordering="worry_free"
    )
    def worry_free_flag(self, obj: Ticket) -> bool:
        return obj.worry_free

    @admin.display(description=_("kind"), ordering="-priority")
    def kind_badge(self, obj: Ticket):
        if obj.is_crc:
            # Marked in words, not colour alone; the full name on hover.
            return format_html(
                '<span class="crc-badge" title="{}">CRC</span>', TicketKind(obj.kind).label
            )
        return TicketKind(obj.kind).label

    # Waiting longest = escalated earliest.
    @admin.display(description=_("waiting for"), ordering="-escalated_at")
    def waited(self, obj: Ticket):
        if obj.escalated_at is None:
            return "—"
        return format_html(
            '<span title="{}">{}</span>',
            gettext("Escalated %(at)s (Beijing time)")
            % {"at": format_local(obj.escalated_at, SHANGHAI)},
            format_waiting(timezone.now() - obj.escalated_at),
        )

    @admin.display(
        description=pgettext_lazy("queue column", "dispute rate"), ordering="dispute_rate_latest"
    )
    def dispute_rate(self, obj: Ticket) -> str:
        return format_rate(obj.dispute_rate_latest)

    @admin.display(description=pgettext_lazy("queue column", "points"), ordering="points_in_window")
    def points(self, obj: Ticket):
        if obj.closure_points is None:
            return obj.points_in_window
        if obj.points_in_window >= obj.closure_points:
            return format_html(
                '<strong class="points-reached"><span>{} / {}</span> {}</strong>',
                obj.points_in_window,
                obj.closure_points,
                pgettext("closure threshold", "reached"),
            )
        return f"{obj.points_in_window} / {obj.closure_points}"

    # Annotated by queue_with_figures (EXISTS subqueries of the page's one query).
    @admin.display(description=pgettext_lazy("queue column", "evidence"))
    def reuse_badge(self, obj: Ticket):
        if obj.reuse_cross_store:
            return format_html(
                '<span class="reuse-badge cross-store" title="{}">{}</span>',
                gettext("Evidence also on another store's ticket"),
                pgettext("queue badge", "another store's"),
            )
        if obj.reuse_flagged:
            return format_html(
                '<span class="reuse-badge" title="{}">{}</span>',
                gettext("Evidence flagged: reused on another ticket, or taken before this one"),
                pgettext("queue badge", "flagged"),
            )
        return "—"

    @admin.display(description=pgettext_lazy("queue column", "decide"))
    def decide_link(self, obj: Ticket):
        label = _("Compensate") if obj.worry_free else _("Judge")
        return format_html('<a class="button" href="{}">{}</a>', obj.judge_url, label)

    def _url(self, view: str, *args) -> str:
        return reverse(
            f"{self.admin_site.name}:arbitration_escalatedticket_{view}",
            args=args,
            current_app=self.admin_site.name,
        )

    # --- the judge page --------------------------------------------------------------

    def judge_view(self, request, object_id: int):
        """纠纷判责, or for a worry-free (无忧购) order its compensation, on one ticket.

        A judgment takes two steps: the form, then a page naming its consequence for
        the store's dispute-refund rate; only the confirmed POST (confirmed=1) calls
        the service. Compensation has no effect on the rate and is recorded at once.
        """
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
            if "back" in request.POST:
                pass  # from the confirmation back to the form, as it was filled in
            elif form.is_valid() and compensation:
                data = form.cleaned_data
                try:
                    record = ticket_compensate(
                        ticket=ticket, user=request.user, amount=data["amount"], note=data["note"]
                    )
                except (ValidationError, PermissionDenied) as error:
                    add_service_error(form, error)
                else:
                    done = gettext("Compensated %(amount)s CNY; ticket closed.") % {
                        "amount": record.amount
                    }
                    return self._decided(request, ticket, done)
            elif form.is_valid() and request.POST.get("confirmed") == "1":
                data = form.cleaned_data
                try:
                    record = ticket_judge(
                        ticket=ticket,
                        user=request.user,
                        merchant_liable=data["merchant_liable"],
                        refund_amount=data["refund_amount"],
                        reasoning=data["reasoning"],
                    )
                except (ValidationError, PermissionDenied) as error:
                    add_service_error(form, error)
                else:
                    done = (
                        gettext("Judged: merchant liable, refund %(amount)s CNY.")
                        if record.merchant_liable
                        else gettext("Judged: merchant not liable, refund %(amount)s CNY.")
                    ) % {"amount": record.refund_amount}
                    return self._decided(request, ticket, done)
            elif form.is_valid():
                # Step 2 only for a judgment the service would take: a ticket already
                # decided is refused here, before anyone confirms anything.
                try:
                    require_state(ticket, TicketState.ESCALATED)
                except ValidationError as error:
                    add_service_error(form, error)
                else:
                    return self._judge_confirmation(request, ticket, form)
        else:
            form = form_class()

        now = timezone.now()
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
            "waiting": format_waiting(now - ticket.escalated_at) if ticket.escalated_at else "",
            "standing": store_points_in_window(store=ticket.store, now=now),
            "rate": store_dispute_rate(store=ticket.store),
            "reply": getattr(ticket, "merchant_reply", None),
            "contacts": ticket.contacts.select_related("logged_by"),
            "evidence": self._evidence_rows(ticket),
            "reuse_flags": ticket_evidence_flags(ticket=ticket),
            "timeline": self._timeline(ticket),
            "neighbours": self._neighbour_links(ticket),
            "form": form,
            "compensation": compensation,
            "decidable": ticket.state == TicketState.ESCALATED,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/arbitration/escalatedticket/judge.html", context)

    def _decided(self, request, ticket: Ticket, done: str):
        self.log_change(request, ticket, done)
        messages.success(request, f"{ticket.number}: {done}")
        return redirect(f"{self.admin_site.name}:arbitration_escalatedticket_changelist")

    def _judge_confirmation(self, request, ticket: Ticket, form: JudgeForm):
        data = form.cleaned_data
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Confirm the judgment of ticket %(number)s")
            % {"number": ticket.number},
            "ticket": ticket,
            "form": form,
            "decision": (
                gettext("The merchant is liable; refund %(amount)s CNY.")
                if data["merchant_liable"]
                else gettext("The merchant is not liable; refund %(amount)s CNY.")
            )
            % {"amount": f"{data['refund_amount']:.2f}"},
            "consequence": judgment_consequence(
                merchant_liable=data["merchant_liable"],
                rate=store_dispute_rate(store=ticket.store),
            ),
            "reasoning": data["reasoning"],
            "judge_url": self._url("judge", ticket.pk),
            "media": self.media,
        }
        return TemplateResponse(
            request, "admin/arbitration/escalatedticket/judge_confirm.html", context
        )

    def _evidence_rows(self, ticket: Ticket) -> list[dict]:
        """Each file with how it is previewed (thumbnail, PDF, audio or download only)."""
        rows = []
        for item in ticket.evidence.select_related("forgery", "uploaded_by"):
            kind = evidence_files.preview_kind(
                content_type=item.content_type, has_thumbnail=bool(item.thumbnail)
            )
            rows.append(
                {
                    "item": item,
                    "kind": kind,
                    "forgery": getattr(item, "forgery", None),
                    "view_url": self._url("evidence", ticket.pk, item.pk),
                    "thumbnail_url": self._url("thumbnail", ticket.pk, item.pk),
                    # The platform's own file cannot cost the store points (the
                    # finding's service refuses it): no link to offer.
                    "forged_url": None
                    if item.from_platform
                    else self._url("forged", ticket.pk, item.pk),
                }
            )
        return rows

    @staticmethod
    def _timeline(ticket: Ticket):
        """Every event, staff notes included, with translated labels and the decisions'
        facts spelled out (tickets.selectors.timeline_entries, on prefetched rows)."""
        ticket = (
            Ticket.objects.filter(pk=ticket.pk)
            .prefetch_related(
                Prefetch(
                    "events",
                    queryset=TicketEvent.objects.select_related("actor").order_by("at", "pk"),
                ),
                "evidence",
            )
            .get()
        )
        return timeline_entries(ticket=ticket)

    def _neighbour_links(self, ticket: Ticket) -> dict:
        neighbours = queue_neighbours(ticket=ticket)
        return {
            side: {"url": self._url("judge", found[0]), "number": found[1]}
            for side, found in (("previous", neighbours.previous), ("next", neighbours.next))
            if found
        }

    # --- evidence: the files, and the forged-evidence finding ------------------------

    def _evidence(self, object_id: int, evidence_id: int) -> Evidence:
        return get_object_or_404(
            Evidence.objects.select_related("ticket__store", "forgery__found_by"),
            pk=evidence_id,
            ticket_id=object_id,
        )

    @method_decorator(xframe_options_sameorigin)  # the judge page shows PDFs in an <iframe>
    @method_decorator(_EVIDENCE_CACHE)
    def evidence_view(self, request, object_id: int, evidence_id: int):
        """The original file for the browser to show (image, PDF, audio player)."""
        if not request.user.has_perm("tickets.view_evidence"):
            raise PermissionDenied
        item = self._evidence(object_id, evidence_id)
        return stored_file_response(
            item.file, content_type=item.content_type, filename=item.original_name
        )

    @method_decorator(_EVIDENCE_CACHE)
    def evidence_thumbnail_view(self, request, object_id: int, evidence_id: int):
        """The thumbnail made at upload (never made here); 404 when there is none."""
        if not request.user.has_perm("tickets.view_evidence"):
            raise PermissionDenied
        item = self._evidence(object_id, evidence_id)
        if not item.thumbnail:
            raise Http404
        return stored_file_response(
            item.thumbnail, content_type=thumbnail_content_type(item.thumbnail.name)
        )

    def forged_view(self, request, object_id: int, evidence_id: int):
        """凭证造假 on one evidence file: the form (severity, reason), then a page naming
        the consequence (points added, the store's points in the closure window after
        it, threshold reached or not); only the confirmed POST calls the service."""
        if not request.user.has_perm("tickets.mark_evidence_forged"):
            raise PermissionDenied
        item = self._evidence(object_id, evidence_id)
        ticket = item.ticket
        judge_url = self._url("judge", ticket.pk)
        forgery = getattr(item, "forgery", None)
        confirm = None

        if request.method == "POST":
            form = MarkForgedForm(request.POST)
            if "back" in request.POST:
                pass
            elif form.is_valid() and request.POST.get("confirmed") == "1":
                data = form.cleaned_data
                try:
                    violation = evidence_mark_forged(
                        evidence=item,
                        user=request.user,
                        severity=data["severity"],
                        note=data["note"],
                    )
                except (ValidationError, PermissionDenied) as error:
                    add_service_error(form, error)
                else:
                    done = gettext("%(name)s marked forged: %(severity)s, %(points)d points.") % {
                        "name": item.original_name,
                        "severity": violation.get_severity_display(),
                        "points": violation.points,
                    }
                    self.log_change(request, item, done)
                    messages.success(request, f"{ticket.number}: {done}")
                    return redirect(judge_url)
            elif form.is_valid():
                if forgery is not None:
                    # The service's own refusal, said before anyone confirms.
                    form.add_error(None, gettext("This evidence is already marked forged."))
                else:
                    points = VIOLATION_POINTS[Severity(form.cleaned_data["severity"])]
                    standing = store_points_in_window(store=ticket.store, now=timezone.now())
                    text, reached = forged_consequence(points=points, standing=standing)
                    confirm = {
                        "severity": Severity(form.cleaned_data["severity"]).label,
                        "points": points,
                        "standing": standing,
                        "consequence": text,
                        "reached": reached,
                        "note": form.cleaned_data["note"],
                    }
        else:
            form = MarkForgedForm()

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": (
                gettext("Confirm: evidence %(name)s is forged")
                if confirm
                else gettext("Mark evidence %(name)s forged")
            )
            % {"name": item.original_name},
            "ticket": ticket,
            "item": item,
            "forgery": forgery,
            "form": form,
            "confirm": confirm,
            "judge_url": judge_url,
            "view_url": self._url("evidence", ticket.pk, item.pk),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/arbitration/escalatedticket/forged.html", context)


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

"""The merchant side of appeals (申诉): the decisions box on the ticket page (the
judgment and each forged-evidence finding, with a 申诉 button while the store may
still appeal, or the appeal's state), the appeal form, and the store's appeals.

The rule is ``arbitration.services.appeals.appeal_file``; this module reads and shows.
With htmx the form opens and posts inside the decisions box; without JavaScript the
申诉 link opens the same box on a page of its own, which posts and shows refusals too.
"""

from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet, prefetch_related_objects
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from arbitration.models import Appeal, Judgment, Violation
from arbitration.services.appeals import (
    MAX_FILES,
    AppealOpening,
    appeal_deadline_text,
    appeal_file,
    appeal_openings,
)

from ..forms import AppealForm
from ..models import Ticket
from .common import add_service_error, store_required, store_ticket_or_404

APPEALS_PAGE_SIZE = 20


class DecisionRow(NamedTuple):
    """One decision against (or about) the store, as the decisions box shows it."""

    key: str  # "judgment-3" or "finding-7": what the form posts back as ``decision``
    kind: str  # "judgment" | "finding"
    decision: Judgment | Violation
    opening: AppealOpening
    deadline_text: str  # the appeal deadline in Beijing time, "" when there is none

    @property
    def appeal(self) -> Appeal | None:
        return self.opening.appeal


def ticket_decisions(*, ticket: Ticket, now: datetime) -> list[DecisionRow]:
    """The ticket's judgment (if any) and forged-evidence findings, oldest finding
    first, each with its appeal and whether it may be appealed at ``now``.

    A fixed number of queries whatever the number of findings: the judgment with its
    appeal, the findings with their appeal and file, the appeals' files (when there
    is an appeal), the platform's window (when a decision still needs it)."""
    judgment = Judgment.objects.filter(ticket=ticket).select_related("appeal__filed_by").first()
    findings = list(
        Violation.objects.filter(ticket=ticket)
        .select_related("appeal__filed_by", "evidence")
        .order_by("found_at", "pk")
    )
    decisions = ([judgment] if judgment else []) + findings
    for decision in decisions:
        decision.ticket = ticket  # already loaded: no query when a decision reads it
    appeals = [a for d in decisions if (a := getattr(d, "appeal", None)) is not None]
    prefetch_related_objects(appeals, "files")
    openings = appeal_openings(decisions=decisions, now=now)
    return [
        DecisionRow(
            key=f"{'judgment' if isinstance(d, Judgment) else 'finding'}-{d.pk}",
            kind="judgment" if isinstance(d, Judgment) else "finding",
            decision=d,
            opening=opening,
            deadline_text=appeal_deadline_text(opening.deadline) if opening.deadline else "",
        )
        for d, opening in zip(decisions, openings, strict=True)
    ]


def store_appeals(*, store) -> QuerySet[Appeal]:
    """The store's appeals, newest first, with what the list shows of each decision."""
    return (
        Appeal.objects.filter(store=store)
        .select_related("ticket", "judgment", "violation__evidence")
        .order_by("-filed_at", "-pk")
    )


def _box(request, ticket: Ticket, rows: list[DecisionRow], *, open_key="", form=None):
    context = {
        "ticket": ticket,
        "decisions": rows,
        "open_key": open_key,
        "appeal_form": form,
        "appeal_max_files": MAX_FILES,
        "evidence_max_bytes": settings.EVIDENCE_MAX_BYTES,
        # A browser never fills a file input again: say so when a refusal dropped some.
        "files_dropped": bool(form is not None and form.errors and request.FILES),
    }
    if request.htmx:
        return render(request, "tickets/_decisions.html", context)
    return render(request, "tickets/appeal.html", context)


@require_http_methods(["GET", "POST"])
@store_required
def ticket_appeal(request, pk: int):
    """GET opens the appeal form for one decision (``?decision=judgment-3``); POST files
    the appeal. Another store's ticket, or a decision not of this ticket: 404."""
    ticket = store_ticket_or_404(request, pk)
    now = timezone.now()
    rows = ticket_decisions(ticket=ticket, now=now)
    data = request.POST if request.method == "POST" else request.GET
    key = data.get("decision", "")
    if not key and request.method == "GET":
        # "Cancel": the box closed again (a plain link goes back to the ticket).
        if request.htmx:
            return _box(request, ticket, rows)
        return redirect(reverse("ticket_detail", args=[pk]) + "#decisions")
    row = next((r for r in rows if r.key == key), None)
    if row is None:
        raise Http404
    if request.method == "GET":
        return _box(request, ticket, rows, open_key=key, form=AppealForm(auto_id="appeal_%s"))

    form = AppealForm(request.POST, request.FILES, auto_id="appeal_%s")
    if form.is_valid():
        try:
            appeal_file(
                user=request.user,
                statement=form.cleaned_data["statement"],
                files=request.FILES.getlist("files"),
                now=now,
                **{"judgment" if row.kind == "judgment" else "violation": row.decision},
            )
        except (ValidationError, PermissionDenied) as exc:
            add_service_error(form, exc)
        else:
            if request.htmx:
                return _box(request, ticket, ticket_decisions(ticket=ticket, now=now))
            return redirect(reverse("ticket_detail", args=[pk]) + "#decisions")
    # Refused: the box again, the form open with what was typed and why not. A refusal
    # that closed the decision (too late, appealed meanwhile) shows its new state too.
    return _box(request, ticket, ticket_decisions(ticket=ticket, now=now), open_key=key, form=form)


@store_required
def appeal_list(request):
    """The store's appeals, newest first, each with the platform's reasoning once decided."""
    page = Paginator(store_appeals(store=request.store), APPEALS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "tickets/appeals.html", {"page": page})

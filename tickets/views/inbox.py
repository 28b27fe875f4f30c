"""The inbox: the store's work queue (tabs, time left on each ticket's own clock,
search), bulk assignment and 接单, refreshed by pushed events (views/live.py)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ..forms import AssignForm, InboxFilterForm
from ..queue import SORTS, VIEWS, count_label, platform_policies, queue_counts, queue_page
from ..selectors import store_members
from ..services.common import WORKABLE_STATES
from ..services.team import ticket_claim, tickets_assign
from .common import error_messages, store_required, store_ticket_or_404

# Sortable columns: (key, header, first click, second click).
SORT_COLUMNS = [
    ("left", _("Time left"), "left", None),
    ("created", _("Created"), "-created", "created"),
    ("due", _("Due at"), "due", "-due"),
]


def _inbox_context(request, form: InboxFilterForm) -> dict:
    now = timezone.now()
    valid = form.is_valid()
    filters = form.cleaned_data if valid else {}
    view, sort = form.queue_view(), form.queue_sort()
    try:
        page_number = int(request.GET.get("page", 1))
    except ValueError:
        page_number = 1
    policies = platform_policies(platform=request.store.platform)
    page = queue_page(
        store=request.store,
        user=request.user,
        view=view,
        sort=sort,
        filters=filters,
        created_range=form.created_range() if valid else (None, None),
        page_number=page_number,
        now=now,
        policies=policies,
    )
    counts = queue_counts(store=request.store, user=request.user, now=now, policies=policies)
    is_owner = request.membership.role == "owner"
    return {
        "form": form,
        "page": page,
        "rows": page.rows,
        "view": view,
        "sort": sort,
        "tabs": [
            (name, label, count_label(counts[name]) if name in counts else None)
            for name, label in VIEWS.items()
        ],
        "sorts": SORTS,
        "query": _without(request.GET, "page"),
        "tab_query": _without(request.GET, "page", "view"),
        "sort_query": _without(request.GET, "page", "sort"),
        "sort_columns": SORT_COLUMNS,
        "workable_states": WORKABLE_STATES,
        "is_owner": is_owner,
        "assign_form": AssignForm(members=store_members(store=request.store)) if is_owner else None,
    }


def _without(params, *names) -> str:
    query = params.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


def _list_response(request, context: dict, *, status: int = 200):
    if request.htmx:
        return render(request, "tickets/_ticket_list.html", context, status=status)
    return redirect(reverse("home") + (f"?{request.GET.urlencode()}" if request.GET else ""))


@store_required
def inbox(request):
    form = InboxFilterForm(request.GET or None)
    context = _inbox_context(request, form)
    if request.htmx and request.htmx.target == "ticket-list":
        return render(request, "tickets/_ticket_list.html", context)
    return render(request, "tickets/inbox.html", context)


@require_POST
@store_required
def assign(request):
    """The owner assigns the selected tickets; the list comes back refreshed. A
    refusal (nothing selected, not a member) is shown inline above the list."""
    members = store_members(store=request.store)
    form = AssignForm(request.POST, members=members)
    error = count = None
    status = 200
    if form.is_valid():
        try:
            ids = [int(pk) for pk in request.POST.getlist("ticket") if pk.isdigit()]
            count = tickets_assign(
                store=request.store,
                user=request.user,
                ticket_ids=ids,
                assignee=form.members.get(form.cleaned_data["assignee"]),
            )
        except ValidationError as exc:
            error = " ".join(error_messages(exc))
        except PermissionDenied as exc:
            # Not the owner, or another store's ticket id: no request the page makes.
            error, status = " ".join(error_messages(exc)), 403
    else:
        error = " ".join(error_messages(form))
    if not request.htmx:
        if error:
            messages.error(request, error)
        return _list_response(request, {})
    context = _inbox_context(request, InboxFilterForm(request.GET or None))
    context["assign_error"] = error
    context["assigned_count"] = count
    # The selection survives a refused request (the page re-checks it), and is
    # cleared after a done one.
    context["keep_selection"] = bool(error)
    return render(request, "tickets/_ticket_list.html", context, status=status)


@require_POST
@store_required
def claim(request, pk: int):
    """接单 from the list: the member takes an unassigned ticket."""
    ticket = store_ticket_or_404(request, pk)
    error = None
    try:
        ticket_claim(ticket=ticket, user=request.user)
    except (ValidationError, PermissionDenied) as exc:
        error = " ".join(error_messages(exc))
    if not request.htmx:
        if error:
            messages.error(request, error)
        target = request.POST.get("next", "")
        safe = url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return redirect(target if safe else reverse("home"))
    context = _inbox_context(request, InboxFilterForm(request.GET or None))
    context["assign_error"] = error
    if not error:
        context["claimed_number"] = ticket.number
    return render(request, "tickets/_ticket_list.html", context)

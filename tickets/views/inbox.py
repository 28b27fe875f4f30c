"""The inbox: the store's tickets with live countdowns, filters and bulk assignment."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ..forms import AssignForm, InboxFilterForm
from ..selectors import INBOX_PAGE_SIZE, inbox_tickets, store_members, ticket_clock
from ..services.team import tickets_assign
from .common import store_required


def _inbox_context(request, form: InboxFilterForm) -> dict:
    now = timezone.now()
    filters = form.cleaned_data if form.is_valid() else {}
    created_range = form.created_range() if form.is_valid() else (None, None)
    queryset = inbox_tickets(
        store=request.store,
        user=request.user,
        filters=filters,
        created_range=created_range,
        now=now,
    )
    page = Paginator(queryset, INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(ticket, ticket_clock(ticket=ticket, now=now)) for ticket in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    is_owner = request.membership.role == "owner"
    return {
        "form": form,
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        "is_owner": is_owner,
        "assign_form": AssignForm(members=store_members(store=request.store)) if is_owner else None,
    }


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
    """The owner assigns the selected tickets; the list comes back refreshed."""
    members = store_members(store=request.store)
    form = AssignForm(request.POST, members=members)
    error = None
    if form.is_valid():
        try:
            ids = [int(pk) for pk in request.POST.getlist("ticket") if pk.isdigit()]
            count = tickets_assign(
                store=request.store,
                user=request.user,
                ticket_ids=ids,
                assignee=form.members.get(form.cleaned_data["assignee"]),
            )
        except (ValidationError, PermissionDenied) as exc:
            error = " ".join(getattr(exc, "messages", [str(exc)]))
        else:
            request.assigned_count = count
    else:
        error = " ".join(m for errors in form.errors.values() for m in errors)
    filters = InboxFilterForm(request.GET or None)
    context = _inbox_context(request, filters)
    context["assign_error"] = error
    context["assigned_count"] = getattr(request, "assigned_count", None)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(reverse("home") + (f"?{request.GET.urlencode()}" if request.GET else ""))
    status = 400 if error else 200
    return render(request, "tickets/_ticket_list.html", context, status=status)

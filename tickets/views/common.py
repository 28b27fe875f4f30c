"""What every dashboard view shares: the member's current store, and refusals
turned into plain messages."""

from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from merchants.models import Membership

from ..models import Ticket

SESSION_STORE = "xietong_store_id"


def store_required(view):
    """Log-in required, and ``request.membership`` / ``request.store`` set to the
    member's current store (the one picked in the switcher, else the first)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated and request.htmx:
            # An expired session during a poll: send the whole page to the login,
            # instead of swapping the login form into a fragment.
            return HttpResponse(
                status=204, headers={"HX-Redirect": resolve_url(settings.LOGIN_URL)}
            )
        return _with_store(request, *args, **kwargs)

    @login_required
    def _with_store(request, *args, **kwargs):
        memberships = list(
            Membership.objects.filter(user=request.user)
            .select_related("store")
            .order_by("store__platform", "store__name")
        )
        if not memberships:
            return render(request, "tickets/no_store.html", status=403)
        chosen = request.session.get(SESSION_STORE)
        membership = next((m for m in memberships if m.store_id == chosen), memberships[0])
        request.memberships = memberships
        request.membership = membership
        request.store = membership.store
        return view(request, *args, **kwargs)

    return wrapped


@require_POST
@store_required
def store_switch(request):
    store_id = request.POST.get("store", "")
    if not any(str(m.store_id) == store_id for m in request.memberships):
        raise Http404
    request.session[SESSION_STORE] = int(store_id)
    return redirect("home")


def store_ticket_or_404(request, pk: int) -> Ticket:
    """The ticket if it belongs to the current store; 404 otherwise, so ids don't leak."""
    return get_object_or_404(
        Ticket.objects.select_related("store", "policy"), pk=pk, store=request.store
    )


def add_service_error(form, error: ValidationError | PermissionDenied) -> None:
    """Show a service refusal on the form: by field where it names one, else on top."""
    if isinstance(error, PermissionDenied):
        form.add_error(None, str(error) or gettext("Forbidden"))
        return
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            target = field if field in form.fields else None
            for item in errors:
                form.add_error(target, item.messages[0] if hasattr(item, "messages") else item)
    else:
        for message in error.messages:
            form.add_error(None, message)


def error_messages(source) -> list[str]:
    """Plain messages from a service refusal or an invalid form, each field's errors
    under its label (never its name: 「Created to: …」, not 「created_to」)."""
    if isinstance(source, PermissionDenied):
        return [str(source) or gettext("Forbidden")]
    if isinstance(source, ValidationError):
        if not hasattr(source, "error_dict"):
            return list(source.messages)
        items = [
            (field, [m for e in errors for m in e.messages])
            for field, errors in source.error_dict.items()
        ]
        fields = {}
    else:  # a bound form
        items = [(field, list(errors)) for field, errors in source.errors.items()]
        fields = source.fields
    found = []
    for name, errors in items:
        label = fields[name].label if name in fields else None
        for message in errors:
            if label and name != NON_FIELD_ERRORS:
                message = gettext("%(label)s: %(message)s") % {"label": label, "message": message}
            found.append(message)
    return found


def stored_file_response(field_file, *, content_type: str, filename: str | None = None):
    """A stored evidence file (or its thumbnail) for the browser to show inline.

    Served with the content type found by sniffing at upload, never guessed again
    (nosniff), and sandboxed: even a file that turned out to be active content runs
    in an opaque origin, away from the dashboard's or the admin's cookies and pages.
    Files are never served from MEDIA_URL; every caller checks access first.
    """
    try:
        handle = field_file.open("rb")
    except FileNotFoundError:
        raise Http404(gettext("The file is missing from storage.")) from None
    response = FileResponse(
        handle, as_attachment=False, filename=filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response

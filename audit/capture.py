"""What an audit entry says about one request: built from the request, the response and
what the admin noted on the request while saving (``request._audit_changes``, see
audit.hooks). Nothing here queries the database; audit_entry_write is the one INSERT.

Secrets never reach the trail: a field whose name contains password, secret, token or
key is recorded as changed, with its value masked, and a URL keeps no query string (a
WeCom group-bot webhook carries its key there).
"""

import ipaddress
import json
import logging
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.admin import ModelAdmin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.files import File
from django.db import models, transaction
from django.forms import ModelChoiceField
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty

from .models import AuditEntry, Outcome, Via

logger = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECRET_WORDS = ("password", "secret", "token", "key")
MASK = "***"
# Enough to read what was done, not a copy of every upload or textarea.
MAX_TEXT = 500
MAX_ITEMS = 200
MAX_FIELDS = 60
MAX_USER_AGENT = 256
# POSTed by every admin form; neither what staff did nor anything to keep.
IGNORED_POST_FIELDS = frozenset({"csrfmiddlewaretoken"})
# The API's resources, by the first segment after the version: /api/v1/tickets/… -> ticket.
API_OBJECT_TYPES = {"tickets": "tickets.ticket"}
MAX_RESPONSE_BYTES = 64 * 1024


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def _text(value: str) -> str:
    if value.startswith(("http://", "https://")) and "?" in value:
        value = value.split("?", 1)[0] + "?…"
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def value_text(value, *, field=None):
    """A form value as JSON the trail can keep: model rows as "name (#pk)", a bare pk of
    a model choice (a form's initial value) as "#pk", dates in ISO-8601, files by name."""
    if value is None:
        return None
    if isinstance(value, models.Model):
        return _text(f"{value} (#{value.pk})")
    collection = isinstance(value, list | tuple | set | frozenset | models.QuerySet)
    if isinstance(field, ModelChoiceField) and not collection:
        return _text(f"#{value}") if value != "" else ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, File):
        return _text(value.name or "")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | timedelta):
        return str(value)
    if isinstance(value, str):
        return _text(value)
    if collection:
        return [value_text(item, field=field) for item in list(value)[:MAX_ITEMS]]
    return _text(str(value))


def form_diff(form) -> dict:
    """{field: {"old": …, "new": …}} for each field the form says changed; secrets masked."""
    diff = {}
    cleaned = getattr(form, "cleaned_data", {}) or {}
    for name in form.changed_data:
        if is_secret(name):
            diff[name] = {"old": MASK, "new": MASK}
            continue
        field = form.fields.get(name)
        old = form.get_initial_for_field(field, name) if field is not None else None
        diff[name] = {
            "old": value_text(old, field=field),
            "new": value_text(cleaned.get(name), field=field),
        }
    return diff


def _object_of(form):
    return getattr(form, "instance", None) or getattr(form, "user", None)


def form_changes(form, formsets, *, add: bool) -> dict:
    """One saved admin form (and its inlines): the object, and old → new per field."""
    obj = _object_of(form)
    change = {
        "object_type": obj._meta.concrete_model._meta.label_lower if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None and obj.pk is not None else "",
        "added": add,
        "fields": form_diff(form),
    }
    inlines = []
    for formset in formsets or ():
        label = formset.model._meta.concrete_model._meta.label_lower
        for inline_form in formset.forms:
            if inline_form in getattr(formset, "deleted_forms", ()):
                continue
            if inline_form.has_changed():
                inlines.append(
                    {
                        "object_type": label,
                        "object_id": str(inline_form.instance.pk or ""),
                        "fields": form_diff(inline_form),
                    }
                )
        for deleted in getattr(formset, "deleted_objects", ()):
            inlines.append({"object_type": label, "object_id": str(deleted.pk), "deleted": True})
    if inlines:
        change["inlines"] = inlines
    return change


def posted_fields(request) -> dict:
    """The POSTed fields of a form (minus the CSRF token), secrets masked; files by name."""
    fields = {}
    for name, values in list(request.POST.lists())[:MAX_FIELDS]:
        if name in IGNORED_POST_FIELDS:
            continue
        if is_secret(name):
            fields[name] = MASK
            continue
        texts = [_text(value) for value in values[:MAX_ITEMS]]
        fields[name] = texts[0] if len(texts) == 1 else texts
    for name, files in request.FILES.lists():
        fields[name] = [f"{upload.name} ({upload.size} B)" for upload in files[:MAX_ITEMS]]
    return fields


def admin_what(request, *, url_kwargs: dict) -> dict:
    what: dict = {}
    changes = getattr(request, "_audit_changes", None)
    if changes:
        what["changes"] = changes
    elif request.POST.get("action") and (
        ACTION_CHECKBOX_NAME in request.POST or "index" in request.POST
    ):
        what["action"] = _text(request.POST["action"])
        what["ids"] = [_text(pk) for pk in request.POST.getlist(ACTION_CHECKBOX_NAME)[:MAX_ITEMS]]
        if request.POST.get("select_across") == "1":
            what["select_across"] = True
        if request.POST.get("post") == "yes":
            what["confirmed"] = True
    else:
        what["fields"] = posted_fields(request)
    if url_kwargs:
        what["url"] = url_kwargs
    return what


def _json(raw: bytes):
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def api_what(request, response) -> dict:
    """The JSON body's keys (values may be a consumer's phone: not kept) and the id of
    the object the call answered with."""
    what: dict = {}
    try:
        body = request.body
    except Exception:  # read as a stream (an upload): nothing to show but its length
        body = b""
    data = _json(body) if body else None
    if isinstance(data, dict):
        # PostgreSQL's JSON cannot hold NUL: a hostile key keeps its place, shown escaped.
        what["keys"] = sorted(str(key).replace("\x00", "\\x00") for key in data)[:MAX_ITEMS]
    elif body:
        what["body_bytes"] = len(body)
    result = _response_json(response)
    if isinstance(result, dict) and result.get("id") is not None:
        what["result_id"] = result["id"]
    return what


def _response_json(response):
    if getattr(response, "streaming", False):
        return None
    if not response.get("Content-Type", "").startswith("application/json"):
        return None
    if len(response.content) > MAX_RESPONSE_BYTES:
        return None
    return _json(response.content)


def client_ip(request) -> str | None:
    """REMOTE_ADDR; behind AUDIT_TRUSTED_PROXIES reverse proxies, the address the
    outermost trusted one saw (X-Forwarded-For read from the right: whatever the client
    itself sent is on the left and proves nothing)."""
    candidate = request.META.get("REMOTE_ADDR", "")
    proxies = int(getattr(settings, "AUDIT_TRUSTED_PROXIES", 0) or 0)
    if proxies > 0:
        hops = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def known_user(request):
    """request.user if something already loaded it; never a query of its own."""
    user = getattr(request, "user", None)
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None
    if user is None or not user.is_authenticated:
        return None
    return user


def model_admin_of(view_func):
    """The ModelAdmin behind an admin URL: its own views carry it (ModelAdmin.get_urls),
    custom views are its bound methods wrapped by admin_site.admin_view."""
    found = getattr(view_func, "model_admin", None)
    if found is None:
        found = getattr(getattr(view_func, "__wrapped__", None), "__self__", None)
    return found if isinstance(found, ModelAdmin) else None


def _outcome(*, via: str, status: int, request, actor, actor_before) -> str:
    if status >= 500:
        return Outcome.ERROR
    if status >= 400:
        return Outcome.REFUSED
    if via == Via.API:
        return Outcome.DONE
    if getattr(request, "_audit_changes", None):
        return Outcome.DONE
    if actor_before is not None and actor is None:
        return Outcome.DONE  # logged out
    if 300 <= status < 400 and not (actor and actor.is_active and actor.is_staff):
        # admin_view sends whoever is not active staff to the login page.
        return Outcome.REFUSED
    if status == 200:
        return Outcome.SHOWN_AGAIN
    return Outcome.DONE


def audit_entry_build(*, request, response, via: str, view_func, actor_before) -> AuditEntry:
    match = request.resolver_match
    url_kwargs = {key: str(value) for key, value in (match.kwargs if match else {}).items()}
    token = getattr(request, "auth", None) if via == Via.API else None
    token_user = getattr(token, "user", None)
    actor = token_user if token_user is not None else known_user(request)
    entry = AuditEntry(
        at=timezone.now(),
        actor=actor or actor_before,
        actor_label=(actor or actor_before).get_username() if (actor or actor_before) else "",
        via=via,
        api_token_id=getattr(token, "pk", None) if token_user is not None else None,
        api_token_name=(getattr(token, "name", "") or "")[:100] if token_user is not None else "",
        method=request.method[:8],
        path=request.path[:500],
        view_name=(match.view_name if match else "")[:200],
        status_code=response.status_code,
        outcome=_outcome(
            via=via,
            status=response.status_code,
            request=request,
            actor=actor,
            actor_before=actor_before,
        ),
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT],
    )
    if via == Via.ADMIN:
        model_admin = model_admin_of(view_func)
        object_id = url_kwargs.pop("object_id", "")
        if model_admin is not None:
            entry.object_type = model_admin.model._meta.concrete_model._meta.label_lower
            entry.object_id = unquote(object_id)[:64]
        entry.what = admin_what(request, url_kwargs=url_kwargs)
        changes = entry.what.get("changes") or []
        if len(changes) == 1 and changes[0]["object_id"]:
            # An add form names its object only once saved.
            entry.object_type = changes[0]["object_type"] or entry.object_type
            entry.object_id = changes[0]["object_id"][:64]
    else:
        entry.what = api_what(request, response)
        if url_kwargs:
            entry.what["url"] = url_kwargs
        resource = request.path.removeprefix(api_prefix()).split("/")
        resource = resource[1] if len(resource) > 1 else ""  # after the version segment
        entry.object_type = API_OBJECT_TYPES.get(resource, "")
        if entry.object_type and entry.what.get("result_id") is not None:
            entry.object_id = str(entry.what["result_id"])[:64]
    return entry


def api_prefix() -> str:
    return getattr(settings, "AUDIT_API_PREFIX", "/api/")


def audit_entry_write(entry: AuditEntry) -> bool:
    """The one INSERT, in its own transaction; a failure is logged, never raised: the
    request it describes has already been answered."""
    try:
        with transaction.atomic():
            entry.save(force_insert=True)
    except Exception:
        logger.exception("audit: could not record %s %s", entry.method, entry.path)
        return False
    return True

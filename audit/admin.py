"""The audit trail for ops: read only, for everyone (superusers included).

The table grows with every staff write and API call: the list walks the (-at, -id)
index, counts from the planner's estimate when unfiltered, and has no date drill-down
(date_hierarchy's year/month lists scan the whole table); the date filter's ranges
(today, last 7 days, this month, this year) use the same index.
"""

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tickets.admin import (
    LIST_PER_PAGE,
    EstimatedCountPaginator,
    OneReverseChangeList,
    ServiceWrittenAdmin,
)

from .models import AuditEntry


class StaffActorFilter(admin.SimpleListFilter):
    """Staff accounts only: the merchants' users never write through the admin, and
    listing every user (or the distinct actors of the whole table) would not scale."""

    title = _("actor")
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        users = get_user_model().objects.filter(is_staff=True).order_by("username")
        return [(str(user.pk), user.get_username()) for user in users]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(actor_id=int(value))


def _value(value) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def what_lines(what: dict) -> list[str]:
    """The entry's "what" as lines a person reads: field: old → new, the action and its
    ids, the fields posted, the API body's keys and the object it answered with."""
    lines = []
    for change in what.get("changes", ()):
        head = f"{model_name(change.get('object_type', ''))} #{change.get('object_id') or '?'}"
        if change.get("added"):
            head += " " + gettext("(added)")
        lines.append(head)
        for name, values in change.get("fields", {}).items():
            lines.append(f"  {name}: {_value(values.get('old'))} → {_value(values.get('new'))}")
        for inline in change.get("inlines", ()):
            kind = model_name(inline.get("object_type", ""))
            label = f"  {kind} #{inline.get('object_id') or '?'}"
            if inline.get("deleted"):
                lines.append(f"{label} " + gettext("(deleted)"))
                continue
            for name, values in inline.get("fields", {}).items():
                old, new = _value(values.get("old")), _value(values.get("new"))
                lines.append(f"{label} {name}: {old} → {new}")
    if "action" in what:
        lines.append(gettext("Action: %(action)s") % {"action": what["action"]})
        lines.append(gettext("Selected ids: %(ids)s") % {"ids": _value(what.get("ids"))})
        if what.get("select_across"):
            lines.append(gettext("All matching rows were selected."))
    for name, value in what.get("fields", {}).items():
        lines.append(f"{name} = {_value(value)}")
    if "keys" in what:
        lines.append(gettext("Body keys: %(keys)s") % {"keys": _value(what["keys"])})
    if "result_id" in what:
        lines.append(gettext("Resulting object id: %(id)s") % {"id": what["result_id"]})
    for name, value in what.get("url", {}).items():
        lines.append(f"{name} = {value}")
    return lines


def model_name(label: str) -> str:
    """A stored model label ("tickets.ticket") as staff read it: the model's verbose
    name in the active language, or the label of a model that no longer exists."""
    try:
        return str(apps.get_model(label)._meta.verbose_name)
    except (LookupError, ValueError):
        return label


@admin.register(AuditEntry)
class AuditEntryAdmin(ServiceWrittenAdmin):
    list_display = [
        "at",
        "actor_label",
        "via",
        "method",
        "path",
        "object_display",
        "status_code",
        "outcome",
    ]
    list_filter = ["via", "outcome", StaffActorFilter, ("at", admin.DateFieldListFilter)]
    # See get_search_results: an exact object id, or the start of a path.
    search_fields = ["object_id", "path"]
    ordering = ["-at", "-id"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = LIST_PER_PAGE
    actions = None
    fields = [
        "at",
        "actor",
        "actor_label",
        "via",
        "api_token_id",
        "api_token_name",
        "method",
        "path",
        "view_name",
        "object_display",
        "status_code",
        "outcome",
        "what_display",
        "ip",
        "user_agent",
    ]
    readonly_fields = fields

    def get_changelist(self, request, **kwargs):
        return OneReverseChangeList

    def get_search_results(self, request, queryset, search_term):
        # Both through an index (AuditEntry.Meta.indexes): admin's default, a
        # case-insensitive "contains" on each field, would read the whole table.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(object_id=term) | Q(path__startswith=term)), False

    @admin.display(description=_("object"), ordering="object_id")
    def object_display(self, obj: AuditEntry) -> str:
        if not obj.object_type:
            return "—"
        kind = model_name(obj.object_type)
        return f"{kind} #{obj.object_id}" if obj.object_id else kind

    @admin.display(description=_("what"))
    def what_display(self, obj: AuditEntry):
        lines = what_lines(obj.what or {})
        if not lines:
            return "—"
        return format_html(
            '<div class="audit-what">{}</div>',
            format_html_join(
                "", '<div style="white-space: pre-wrap">{}</div>', ((line,) for line in lines)
            ),
        )

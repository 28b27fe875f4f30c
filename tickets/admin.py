from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import (
    CalendarException,
    ContactAttempt,
    Evidence,
    Policy,
    Reply,
    Ticket,
    TicketEvent,
    TicketState,
    WorkingCalendar,
)
from .selectors import format_remaining, ticket_clock_paused, ticket_remaining, tickets_with_clock


class CalendarExceptionInline(admin.TabularInline):
    model = CalendarException
    extra = 0


@admin.register(WorkingCalendar)
class WorkingCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "timezone", "day_start", "day_end", "weekdays"]
    inlines = [CalendarExceptionInline]


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = [
        "platform",
        "kind",
        "window",
        "clock",
        "calendar",
        "reminder_offsets_minutes",
        "is_active",
    ]
    list_filter = ["platform", "kind", "clock", "is_active"]
    list_select_related = ["calendar"]


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue (open, past due)")), ("no", _("Not overdue"))]

    def queryset(self, request, queryset):
        overdue = {"state": TicketState.OPEN, "due_at__lt": timezone.now()}
        if self.value() == "yes":
            return queryset.filter(**overdue)
        if self.value() == "no":
            return queryset.exclude(**overdue)
        return queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TicketEventInline(ReadOnlyInline):
    model = TicketEvent
    fields = ["at", "action", "from_state", "to_state", "actor", "reason", "payload"]
    readonly_fields = fields
    ordering = ["at", "id"]


class ContactAttemptInline(ReadOnlyInline):
    model = ContactAttempt
    fields = ["attempted_at", "channel", "note", "counts", "logged_by", "logged_at"]
    readonly_fields = fields


class EvidenceInline(ReadOnlyInline):
    model = Evidence
    fields = ["original_name", "content_type", "size", "sha256", "uploaded_by", "uploaded_at"]
    readonly_fields = fields


class ReplyInline(ReadOnlyInline):
    model = Reply
    fields = ["outcome", "settles", "remark", "agreed_at", "replied_by", "replied_at"]
    readonly_fields = fields


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "store",
        "kind",
        "category",
        "state",
        "created_at",
        "due_at",
        "time_remaining",
        "worry_free",
    ]
    list_filter = ["store__platform", "state", "kind", OverdueFilter, "category", "worry_free"]
    search_fields = ["number", "order_number"]
    date_hierarchy = "created_at"
    # State and deadline change only through the services (state is FSM-protected).
    readonly_fields = ["state", "created_at", "due_at", "policy", "priority", "updated_at"]
    raw_id_fields = ["store"]
    inlines = [ReplyInline, ContactAttemptInline, EvidenceInline, TicketEventInline]

    def get_queryset(self, request):
        return tickets_with_clock(super().get_queryset(request))

    def has_add_permission(self, request):
        # Tickets are opened through the intake service (API or dashboard), never by hand here.
        return False

    @admin.display(description=_("time remaining"))
    def time_remaining(self, obj: Ticket) -> str:
        if obj.state != TicketState.OPEN:
            return "—"
        now = timezone.now()
        text = format_remaining(ticket_remaining(ticket=obj, now=now))
        if ticket_clock_paused(ticket=obj, now=now):
            text += " " + str(_("(clock paused)"))
        return text


@admin.register(TicketEvent)
class TicketEventAdmin(admin.ModelAdmin):
    list_display = ["at", "ticket", "action", "from_state", "to_state", "actor", "reason"]
    list_filter = ["action", "to_state"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket", "actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ContactAttempt)
class ContactAttemptAdmin(admin.ModelAdmin):
    list_display = ["ticket", "channel", "attempted_at", "counts", "logged_by"]
    list_filter = ["channel", "counts"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket", "logged_by"]
    readonly_fields = ["counts", "logged_by", "logged_at"]


@admin.register(Evidence)
class EvidenceAdmin(admin.ModelAdmin):
    list_display = ["original_name", "ticket", "content_type", "size", "uploaded_at"]
    search_fields = ["ticket__number", "sha256"]
    list_select_related = ["ticket"]
    readonly_fields = ["sha256", "size", "content_type", "uploaded_by", "uploaded_at"]


@admin.register(Reply)
class ReplyAdmin(admin.ModelAdmin):
    list_display = ["ticket", "outcome", "settles", "replied_by", "replied_at"]
    list_filter = ["outcome", "settles"]
    search_fields = ["ticket__number"]
    list_select_related = ["ticket", "replied_by"]

    def has_change_permission(self, request, obj=None):
        return False

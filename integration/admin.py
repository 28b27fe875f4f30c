"""Ops' view of the webhooks: subscribers (pause, resume) and the delivery log (send again).

Actions are thin callers of integration.services; lists load their relations up front
(list_select_related), so a page costs the same number of queries for 1 row or 100.
"""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from tickets.admin import ServiceWrittenAdmin
from tickets.durations import duration_text

from .events import EVENT_TYPES, event_type_choices
from .feed import feed_blockers
from .models import Subscriber, WebhookAttempt
from .services import (
    subscriber_add,
    subscribers_pause,
    subscribers_resume,
    webhook_attempts_redeliver,
)


class SubscriberForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        label=_("event types"),
        choices=event_type_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every event type."),
    )

    class Meta:
        model = Subscriber
        fields = ["name", "url", "event_types", "is_active"]


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    form = SubscriberForm
    list_display = [
        "name",
        "url",
        "is_active",
        "delivery_state",
        "consecutive_failures",
        "last_delivered_at",
        "next_attempt_at",
    ]
    list_filter = ["is_active", ("paused_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "url"]
    actions = ["pause", "resume"]
    readonly_fields = [
        "secret",
        "delivery_state",
        "pause_reason",
        "consecutive_failures",
        "cursor_display",
        "last_delivered_at",
        "next_attempt_at",
        "created_at",
    ]

    def changelist_view(self, request, extra_context=None):
        # Why nothing is delivered, when that is the reason: the feed waits behind it.
        limit = timedelta(seconds=settings.FEED_STALL_WARN_SECONDS)
        for blocker in feed_blockers(older_than=limit):
            self.message_user(
                request,
                gettext(
                    "Events wait behind a database transaction open for %(age)s: pid "
                    "%(pid)d, database %(database)s, %(state)s. They are delivered, in order, "
                    "once it ends."
                )
                % {
                    "age": duration_text(blocker.age),
                    "pid": blocker.pid,
                    "database": blocker.database,
                    "state": blocker.state,
                },
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    def get_fields(self, request, obj=None):
        fields = ["name", "url", "event_types", "is_active"]
        return fields if obj is None else fields + self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new subscriber starts at the head of the stream (the service decides where).
        subscriber_add(obj, now=timezone.now())

    @admin.display(description=_("delivery"), ordering="paused_at")
    def delivery_state(self, obj: Subscriber):
        # Loud on purpose: a paused subscriber receives nothing until staff resume it.
        if obj.paused_at is not None:
            return format_html(
                '<strong style="color:#ba2121">{}</strong>',
                gettext("PAUSED since %(at)s")
                % {"at": f"{timezone.localtime(obj.paused_at):%Y-%m-%d %H:%M}"},
            )
        if not obj.is_active:
            return gettext("Inactive")
        if obj.consecutive_failures:
            return gettext("Retrying")
        return gettext("Delivering")

    @admin.display(description=_("delivered up to"))
    def cursor_display(self, obj: Subscriber) -> str:
        if not obj.cursor_event_id:
            return "—"
        return gettext("event %(id)s (transaction %(txid)s)") % {
            "id": obj.cursor_event_id,
            "txid": obj.cursor_txid,
        }

    @admin.action(description=_("Pause selected subscribers"), permissions=["change"])
    def pause(self, request, queryset):
        reason = gettext("Paused by %(user)s.") % {"user": request.user.get_username()}
        now = timezone.now()
        count = subscribers_pause(
            subscriber_ids=queryset.values_list("pk", flat=True), reason=reason, now=now
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d subscriber paused: nothing is sent to it until it is resumed.",
                "%(count)d subscribers paused: nothing is sent to them until they are resumed.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Resume selected subscribers"), permissions=["change"])
    def resume(self, request, queryset):
        count = subscribers_resume(subscriber_ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "%(count)d subscriber resumed: delivery continues where it stopped.",
                "%(count)d subscribers resumed: delivery continues where they stopped.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )


class OutcomeFilter(admin.SimpleListFilter):
    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [("ok", _("Delivered (2xx)")), ("failed", _("Failed"))]

    def queryset(self, request, queryset):
        delivered = {"status_code__gte": 200, "status_code__lt": 300}
        if self.value() == "ok":
            return queryset.filter(**delivered)
        if self.value() == "failed":
            return queryset.exclude(**delivered)
        return queryset


class EventTypeFilter(admin.SimpleListFilter):
    """The public types as the identifiers they are (``<code>``), not as words."""

    title = _("event type")
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        return [(kind, format_html("<code>{}</code>", kind)) for kind in EVENT_TYPES]

    def queryset(self, request, queryset):
        return queryset.filter(event_type=self.value()) if self.value() else queryset


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ServiceWrittenAdmin):
    list_display = [
        "sent_at",
        "subscriber",
        "event_type_code",
        "ticket_number",
        "attempt",
        "status_code",
        "duration_ms",
        "error_short",
        "is_redelivery",
    ]
    list_filter = ["subscriber", OutcomeFilter, EventTypeFilter, "is_redelivery"]
    list_select_related = ["subscriber", "event__ticket"]
    search_fields = ["event__ticket__number"]
    actions = ["send_again"]
    fields = [
        "sent_at",
        "subscriber",
        "event",
        "event_type_code",
        "attempt",
        "is_redelivery",
        "status_code",
        "duration_ms",
        "error",
        "request_body",
    ]
    readonly_fields = fields

    @admin.display(description=_("event type"), ordering="event_type")
    def event_type_code(self, obj: WebhookAttempt):
        return format_html("<code>{}</code>", obj.event_type)

    @admin.display(description=_("ticket"), ordering="event__ticket__number")
    def ticket_number(self, obj: WebhookAttempt) -> str:
        return obj.event.ticket.number

    @admin.display(description=_("error"))
    def error_short(self, obj: WebhookAttempt) -> str:
        return obj.error if len(obj.error) <= 80 else obj.error[:79] + "…"

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("integration.change_subscriber")

    @admin.action(description=_("Send the selected events again"), permissions=["redeliver"])
    def send_again(self, request, queryset):
        sent, skipped = webhook_attempts_redeliver(
            attempt_ids=list(queryset.values_list("pk", flat=True))
        )
        ok = sum(attempt.succeeded for attempt in sent)
        self.message_user(
            request,
            gettext(
                "Sent again: %(sent)d, of which %(ok)d answered 2xx; "
                "skipped (inactive subscriber): %(skipped)d."
            )
            % {"sent": len(sent), "ok": ok, "skipped": skipped},
            messages.SUCCESS if ok == len(sent) else messages.WARNING,
        )

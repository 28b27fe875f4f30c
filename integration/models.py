"""Webhook subscribers and their delivery log. The events themselves are tickets.TicketEvent."""

import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models import TicketEvent, event_public_id

from .events import EVENT_TYPES


def new_secret() -> str:
    return secrets.token_hex(32)


def validate_event_types(value) -> None:
    if not isinstance(value, list) or any(kind not in EVENT_TYPES for kind in value):
        raise ValidationError(
            _("Choose event types from the catalogue: %(types)s."),
            code="event_types",
            params={"types": ", ".join(EVENT_TYPES)},
        )


class Subscriber(models.Model):
    """A receiver of webhooks (the platform's CS system, say): one ordered stream each.

    It has delivered every event of its types up to its cursor (cursor_txid,
    cursor_event_id: a position of integration.feed) and nothing after it. A new
    subscriber starts at the head of the stream: it gets what happens from then on, not
    the history (the feed, GET /api/v1/events, serves history).
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("signing secret"),
        max_length=128,
        default=new_secret,
        help_text=_("The receiver checks the signature header with it (HMAC-SHA256)."),
    )
    event_types = models.JSONField(
        _("event types"),
        default=list,
        blank=True,
        validators=[validate_event_types],
        help_text=_("Empty: every event type."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    pause_reason = models.TextField(_("pause reason"), blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    cursor_txid = models.BigIntegerField(_("delivered up to (transaction)"), default=0)
    cursor_event_id = models.BigIntegerField(_("delivered up to (event)"), default=0)
    last_delivered_at = models.DateTimeField(_("last delivered at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    # A worker's lease on the subscriber: one delivery run at a time, and a run whose
    # worker died is taken over once the lease is older than WEBHOOK_CLAIM_TIMEOUT_SECONDS.
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("webhook subscriber")
        verbose_name_plural = _("webhook subscribers")
        ordering = ["name"]
        permissions = [("read_event_feed", _("Can read the event feed (GET /api/v1/events)"))]

    def __str__(self):
        return self.name

    @property
    def cursor(self) -> tuple[int, int]:
        return (self.cursor_txid, self.cursor_event_id)


class WebhookAttempt(models.Model):
    """One POST of one event to one subscriber, whatever its outcome (the delivery log)."""

    subscriber = models.ForeignKey(
        Subscriber,
        on_delete=models.CASCADE,
        related_name="attempts",
        db_index=False,  # the (subscriber, event) index below serves it
        verbose_name=_("subscriber"),
    )
    event = models.ForeignKey(
        TicketEvent,
        on_delete=models.PROTECT,  # events are append-only; the log keeps pointing at them
        related_name="+",
        verbose_name=_("event"),
    )
    event_type = models.CharField(_("event type"), max_length=40)
    attempt = models.PositiveIntegerField(_("attempt number"))
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    request_body = models.TextField(_("request body"))
    sent_at = models.DateTimeField(_("sent at"))
    is_redelivery = models.BooleanField(_("sent again by staff"), default=False)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["-sent_at", "-pk"]
        indexes = [
            models.Index(fields=["subscriber", "event"], name="webhook_attempt_sub_event"),
            models.Index(fields=["-sent_at", "-id"], name="webhook_attempt_recent"),
        ]

    def __str__(self):
        # The event by its public id (the type is an English identifier: in the list).
        return f"{self.subscriber} {event_public_id(self.event_id)} #{self.attempt}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

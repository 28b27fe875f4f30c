"""Notifications: in-app rows for the dashboard, and the outbox of emails and
group-bot messages.

Rows are written in the same transaction as their cause (a reminder marked
sent, a ticket escalated); sending happens after commit. Each delivery is a
row with a unique key, claimed by a conditional UPDATE before it is sent, so a
retry, a second worker or a re-run sweep never sends it twice.
"""

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from merchants.models import Store

from . import bots
from .bulk import insert_rows
from .models import Delivery, Notification, NotificationKind

logger = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-send: take it over.
CLAIM_TIMEOUT = timedelta(minutes=5)
MAX_ATTEMPTS = 8


class DeliveryError(Exception):
    """The channel refused or could not be reached; the delivery will be retried."""


def ticket_link(ticket_id: int) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/tickets/{ticket_id}/"


def format_local(value: datetime, tz=None) -> str:
    """Shown in Asia/Shanghai; pass ``tz`` when formatting thousands of rows."""
    return value.astimezone(tz or timezone.get_current_timezone()).strftime("%Y-%m-%d %H:%M")


def format_offset(minutes: int) -> str:
    if minutes % 60 == 0:
        return _("%(hours)d hours") % {"hours": minutes // 60}
    return _("%(minutes)d minutes") % {"minutes": minutes}


# --- writing (inside the caller's transaction) -------------------------------------------


NOTIFICATION_FIELDS = ("store", "ticket", "recipient", "kind", "title", "body", "created_at")
DELIVERY_FIELDS = (
    "key",
    "channel",
    "store",
    "ticket",
    "subject",
    "body",
    "link",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


# A digest lists at most this many ticket numbers; the inbox's escalated filter has them all.
DIGEST_NUMBERS = 20


def notifications_escalated(*, rows: Iterable, now: datetime) -> None:
    """Tell each store its tickets went to platform intervention (in-app).

    One notification per store per batch: a store whose 300 tickets escalate in
    one sweep gets one digest, not 300 bell entries (and the sweep writes one row
    per store instead of one per ticket).
    """
    by_store: dict[int, list] = {}
    for row in rows:
        by_store.setdefault(row.store_id, []).append(row)
    tz = timezone.get_current_timezone()
    notifications = []
    for store_id, store_rows in by_store.items():
        if len(store_rows) == 1:
            (row,) = store_rows
            title = _("Ticket %(number)s escalated to platform intervention") % {
                "number": row.number
            }
            body = _("The reply deadline was %(due)s.") % {"due": format_local(row.due_at, tz)}
            ticket_id = row.ticket_id
        else:
            numbers = [row.number for row in store_rows[:DIGEST_NUMBERS]]
            more = len(store_rows) - len(numbers)
            title = ngettext(
                "%(count)d ticket escalated to platform intervention",
                "%(count)d tickets escalated to platform intervention",
                len(store_rows),
            ) % {"count": len(store_rows)}
            body = _("No reply before the deadline: %(numbers)s") % {
                "numbers": ", ".join(numbers)
                + (_(" and %(more)d more") % {"more": more} if more else "")
            }
            ticket_id = None
        notifications.append(
            (store_id, ticket_id, None, NotificationKind.ESCALATED, title, body, now)
        )
    insert_rows(Notification, NOTIFICATION_FIELDS, notifications)


def notifications_reminders(
    *, rows: Iterable, stores: dict[int, Store], now: datetime
) -> list[int]:
    """In-app notification, email and group-bot message for each reminder row
    (reminder_id, ticket_id, offset_minutes, store_id, number, due_at, recipient_id).
    Returns the ids of the deliveries to send after commit."""
    notifications = []
    deliveries = []
    for row in rows:
        store = stores[row.store_id]
        title = _("Ticket %(number)s: reply due in %(left)s") % {
            "number": row.number,
            "left": format_offset(row.offset_minutes),
        }
        body = _(
            "Reply to ticket %(number)s before %(due)s (Beijing time), or it goes to "
            "platform intervention."
        ) % {"number": row.number, "due": format_local(row.due_at)}
        notifications.append(
            (
                row.store_id,
                row.ticket_id,
                row.recipient_id,
                NotificationKind.REMINDER,
                title,
                body,
                now,
            )
        )
        channels = []
        if store.after_sales_email:
            channels.append(Delivery.Channel.EMAIL)
        if store.bot_kind and store.bot_url:
            channels.append(Delivery.Channel.WEBHOOK)
        deliveries.extend(
            (
                f"reminder:{row.reminder_id}:{channel}",
                channel,
                row.store_id,
                row.ticket_id,
                title,
                body,
                ticket_link(row.ticket_id),
                Delivery.Status.PENDING,
                0,
                # The after-commit enqueue makes the first attempt; the sweep only
                # steps in if that message was lost.
                now + CLAIM_TIMEOUT,
                now,
            )
            for channel in channels
        )
    insert_rows(Notification, NOTIFICATION_FIELDS, notifications)
    return insert_rows(Delivery, DELIVERY_FIELDS, deliveries, returning_ids=True)


def deliveries_enqueue_on_commit(ids: list[int]) -> None:
    if ids:
        transaction.on_commit(lambda: deliveries_enqueue(ids))


def deliveries_enqueue(ids: list[int]) -> None:
    """Hand deliveries to the workers. If the broker is down the rows stay pending
    and the next sweep queues them again: nothing is lost."""
    from .tasks import deliver_batch

    try:
        deliver_batch.delay(ids)
    except Exception:  # noqa: BLE001 - any broker failure; the sweep retries later
        logger.exception("Could not queue %d deliveries; the sweep will retry", len(ids))


def deliveries_due(*, now: datetime, limit: int = 1000) -> list[int]:
    """Deliveries waiting for a (re)try, and claims abandoned by a dead worker."""
    return list(
        Delivery.objects.filter(
            Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            | Q(status=Delivery.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


# --- sending (after commit, in a worker) ------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at an hour."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(hours=1))


def delivery_send(*, delivery_id: int, now: datetime | None = None) -> str:
    """Send one delivery if it is due and nobody else holds it; returns its new status,
    or "skipped" when there was nothing to do (already sent, claimed, or not due)."""
    now = now or timezone.now()
    claimable = (
        Q(status=Delivery.Status.PENDING, attempts=0)
        | Q(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        | Q(status=Delivery.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
    )
    claimed = Delivery.objects.filter(claimable, pk=delivery_id).update(
        status=Delivery.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return "skipped"
    delivery = Delivery.objects.select_related("store").get(pk=delivery_id)
    mine = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING, claimed_at=now)
    try:
        _send(delivery)
    except DeliveryError as exc:
        status = (
            Delivery.Status.FAILED if delivery.attempts >= MAX_ATTEMPTS else Delivery.Status.PENDING
        )
        mine.update(
            status=status,
            next_attempt_at=now + backoff(delivery.attempts),
            last_error=str(exc)[:2000],
        )
        logger.warning("Delivery %s attempt %s failed: %s", delivery.key, delivery.attempts, exc)
        return status
    mine.update(status=Delivery.Status.SENT, sent_at=timezone.now(), last_error="")
    return Delivery.Status.SENT


def _send(delivery: Delivery) -> None:
    store = delivery.store
    if delivery.channel == Delivery.Channel.EMAIL:
        if not store.after_sales_email:
            raise DeliveryError("The store has no after-sales email address.")
        message = EmailMessage(
            subject=delivery.subject,
            body=f"{delivery.body}\n\n{delivery.link}",
            to=[store.after_sales_email],
        )
        try:
            message.send()
        except OSError as exc:  # smtplib errors are OSErrors
            raise DeliveryError(f"email: {exc}") from exc
        return
    if not (store.bot_kind and store.bot_url):
        raise DeliveryError("The store has no group bot configured.")
    request = bots.build_request(
        kind=store.bot_kind,
        url=store.bot_url,
        secret=store.bot_secret,
        title=delivery.subject,
        text=delivery.body,
        link=delivery.link,
        timestamp_ms=int(time.time() * 1000),
    )
    status, payload = post_json(request.url, request.body)
    if not bots.answer_ok(kind=store.bot_kind, status=status, payload=payload):
        raise DeliveryError(f"{store.bot_kind} answered {status}: {payload!r}"[:500])


def post_json(url: str, body: dict) -> tuple[int, dict | None]:
    data = json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.BOT_TIMEOUT_SECONDS) as response:
            raw = response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"webhook: {exc}") from exc
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, None

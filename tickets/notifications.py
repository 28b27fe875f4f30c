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

from merchants.models import Store

from . import bots
from .models import Delivery, Notification, NotificationKind

logger = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-send: take it over.
CLAIM_TIMEOUT = timedelta(minutes=5)
MAX_ATTEMPTS = 8


class DeliveryError(Exception):
    """The channel refused or could not be reached; the delivery will be retried."""


def ticket_link(ticket_id: int) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/tickets/{ticket_id}/"


def format_local(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def format_offset(minutes: int) -> str:
    if minutes % 60 == 0:
        return _("%(hours)d hours") % {"hours": minutes // 60}
    return _("%(minutes)d minutes") % {"minutes": minutes}


# --- writing (inside the caller's transaction) -------------------------------------------


def notifications_escalated(*, rows: Iterable, now: datetime) -> None:
    """Tell each store its ticket went to platform intervention (in-app)."""
    Notification.objects.bulk_create(
        Notification(
            key=f"escalated:{row.ticket_id}",
            store_id=row.store_id,
            ticket_id=row.ticket_id,
            kind=NotificationKind.ESCALATED,
            title=_("Ticket %(number)s escalated to platform intervention")
            % {"number": row.number},
            body=_("The reply deadline was %(due)s.") % {"due": format_local(row.due_at)},
            created_at=now,
        )
        for row in rows
    )


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
        link = ticket_link(row.ticket_id)
        notifications.append(
            Notification(
                key=f"reminder:{row.reminder_id}",
                store_id=row.store_id,
                ticket_id=row.ticket_id,
                recipient_id=row.recipient_id,
                kind=NotificationKind.REMINDER,
                title=title,
                body=body,
                created_at=now,
            )
        )
        channels = []
        if store.after_sales_email:
            channels.append(Delivery.Channel.EMAIL)
        if store.bot_kind and store.bot_url:
            channels.append(Delivery.Channel.WEBHOOK)
        deliveries.extend(
            Delivery(
                key=f"reminder:{row.reminder_id}:{channel}",
                channel=channel,
                store_id=row.store_id,
                ticket_id=row.ticket_id,
                subject=title,
                body=body,
                link=link,
                # The after-commit enqueue makes the first attempt; the sweep only
                # steps in if that message was lost.
                next_attempt_at=now + CLAIM_TIMEOUT,
                created_at=now,
            )
            for channel in channels
        )
    Notification.objects.bulk_create(notifications)
    created = Delivery.objects.bulk_create(deliveries)
    return [d.pk for d in created]


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

"""Webhooks: subscribers, and the ordered, signed, retried delivery of the event stream.

Each subscriber is one ordered stream (integration.feed): its events go out one at a
time, in stream order, and its cursor moves past an event only once the receiver
answered 2xx. The first failure stops the run and backs the subscriber off; the events
after it wait (a receiver never sees a ticket's "closed" before its "replied"). One run
per subscriber at a time, under a lease (claimed_at) that a dead worker's run loses
after WEBHOOK_CLAIM_TIMEOUT_SECONDS. Delivery is at least once: a worker killed
between the receiver's 2xx and the cursor's UPDATE sends that event again, with the
same X-Xietong-Event-Id, so receivers de-duplicate on it.
"""

import http.client
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from tickets.models import TicketEvent, event_public_id
from tickets.services.deliveries import backoff as deliveries_backoff
from tickets.services.deliveries import opener

from .events import event_type
from .feed import (
    EVENT_RELATED,
    FeedBlocker,
    Position,
    feed_blockers,
    feed_head,
    feed_read,
    position_of,
)
from .models import Subscriber, WebhookAttempt
from .schemas import event_json
from .signing import sign

logger = logging.getLogger(__name__)

# Events read from the feed per query inside a run (the run's budget caps the total).
PAGE_SIZE = 100
# Enough of a refusal's answer to tell why, not a copy of an error page.
MAX_ERROR = 500


@dataclass(frozen=True)
class DeliveryRun:
    """What one subscriber_deliver call did."""

    status: str  # skipped (not due, paused or claimed), done, failed, paused, lost
    delivered: int = 0
    more: bool = False  # stopped by its budget with events still waiting


def backoff(failures: int) -> timedelta:
    """The outbox's backoff with the webhooks' settings: WEBHOOK_BACKOFF_BASE_SECONDS
    (10 s) doubled per consecutive failure, capped at WEBHOOK_BACKOFF_MAX_SECONDS (1 h)."""
    return deliveries_backoff(
        failures,
        base=timedelta(seconds=settings.WEBHOOK_BACKOFF_BASE_SECONDS),
        cap=timedelta(seconds=settings.WEBHOOK_BACKOFF_MAX_SECONDS),
    )


def subscriber_add(subscriber: Subscriber, *, now: datetime | None = None) -> Subscriber:
    """Save a subscriber built by the caller (the admin's form) positioned at the head of
    the stream: it receives the events that become final from now on, not the history
    (GET /api/v1/events serves that)."""
    subscriber.created_at = now or timezone.now()
    subscriber.full_clean()
    subscriber.cursor_txid, subscriber.cursor_event_id = feed_head()
    subscriber.save()
    return subscriber


def subscribers_due(*, now: datetime) -> list[int]:
    """Active, unpaused subscribers whose backoff has passed and whom no live run holds."""
    lease = timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT_SECONDS)
    return list(
        Subscriber.objects.filter(_due(now), _unclaimed(now - lease))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _due(now: datetime) -> Q:
    return Q(is_active=True, paused_at__isnull=True) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def _unclaimed(expired_before: datetime) -> Q:
    return Q(claimed_at__isnull=True) | Q(claimed_at__lt=expired_before)


def subscriber_deliver(*, subscriber_id: int, now: datetime) -> DeliveryRun:
    """Send a subscriber the events after its cursor, in order, one at a time, until none
    is left, one fails, or the run's budget (WEBHOOK_RUN_MAX_EVENTS events,
    WEBHOOK_RUN_MAX_SECONDS seconds) is spent. Safe to call twice: the second call finds
    the subscriber claimed, or nothing new to send."""
    lease = timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT_SECONDS)
    claimed = Subscriber.objects.filter(
        _due(now), _unclaimed(now - lease), pk=subscriber_id
    ).update(claimed_at=now)
    if not claimed:
        return DeliveryRun("skipped")
    subscriber = Subscriber.objects.get(pk=subscriber_id)
    # Every write below is conditional on still holding the lease: a run that outlived it
    # (a frozen worker) changes nothing once another run has taken over.
    mine = Subscriber.objects.filter(pk=subscriber_id, claimed_at=now)
    started = time.monotonic()
    max_events = settings.WEBHOOK_RUN_MAX_EVENTS
    cursor: Position = subscriber.cursor
    delivered = 0
    first = True
    while True:
        page = feed_read(
            after=cursor, limit=min(PAGE_SIZE, max_events - delivered), types=subscriber.event_types
        )
        for event in page.events:
            # Only the run's first event can have been tried before (the cursor stops at a
            # failure); the later ones are new.
            number = _attempts_made(subscriber, event) + 1 if first else 1
            first = False
            attempt = _post(subscriber, event, attempt=number, is_redelivery=False)
            if not attempt.succeeded:
                return _failed(
                    subscriber, mine, attempt, cursor=cursor, now=now, delivered=delivered
                )
            cursor = position_of(event)
            delivered += 1
            with transaction.atomic():
                attempt.save()
                held = mine.update(
                    cursor_txid=cursor[0],
                    cursor_event_id=cursor[1],
                    consecutive_failures=0,
                    last_delivered_at=attempt.sent_at,
                )
            if not held:
                return DeliveryRun("lost", delivered=delivered)
            if time.monotonic() - started >= settings.WEBHOOK_RUN_MAX_SECONDS:
                return _release(mine, cursor=cursor, delivered=delivered, more=True)
        # All of the page went out: past events of other types too.
        cursor = page.next
        if not page.full:
            return _release(mine, cursor=cursor, delivered=delivered, more=False)
        if delivered >= max_events:
            return _release(mine, cursor=cursor, delivered=delivered, more=True)


def _release(mine, *, cursor: Position, delivered: int, more: bool) -> DeliveryRun:
    held = mine.update(
        cursor_txid=cursor[0], cursor_event_id=cursor[1], next_attempt_at=None, claimed_at=None
    )
    if not held:
        return DeliveryRun("lost", delivered=delivered)
    return DeliveryRun("done", delivered=delivered, more=more)


def _failed(
    subscriber: Subscriber,
    mine,
    attempt: WebhookAttempt,
    *,
    cursor: Position,
    now: datetime,
    delivered: int,
) -> DeliveryRun:
    """The receiver refused or could not be reached: log, back off, pause after N."""
    # Earlier successes of this run reset the count (their UPDATEs said so).
    failures = (0 if delivered else subscriber.consecutive_failures) + 1
    pause = failures >= settings.WEBHOOK_PAUSE_AFTER_FAILURES
    reason = ""
    if pause:
        reason = _("Paused after %(count)d consecutive failed deliveries; the last: %(error)s") % {
            "count": failures,
            "error": attempt.error,
        }
    with transaction.atomic():
        attempt.save()
        held = mine.update(
            cursor_txid=cursor[0],
            cursor_event_id=cursor[1],
            consecutive_failures=failures,
            next_attempt_at=now + backoff(failures),
            claimed_at=None,
            paused_at=now if pause else None,
            pause_reason=reason,
        )
        if held and pause:
            transaction.on_commit(lambda: _ops_notice(subscriber, reason))
    logger.warning(
        "Webhook to %s failed, attempt %s of event %s: %s",
        subscriber.name,
        attempt.attempt,
        attempt.event_id,
        attempt.error,
    )
    if not held:
        return DeliveryRun("lost", delivered=delivered)
    return DeliveryRun("paused" if pause else "failed", delivered=delivered)


def _ops_notice(subscriber: Subscriber, reason: str) -> None:
    logger.error("Webhook subscriber %s paused: %s", subscriber.name, reason)
    mail_admins(
        subject=_("Webhook subscriber %(name)s paused") % {"name": subscriber.name},
        message=_(
            "%(reason)s\n\nURL: %(url)s\nNo event is lost: once the receiver works again, "
            "resume the subscriber in the admin and delivery continues from where it stopped."
        )
        # Without its query string: some receivers take their key there.
        % {"reason": reason, "url": subscriber.url.split("?", 1)[0]},
        fail_silently=True,
    )


def _attempts_made(subscriber: Subscriber, event: TicketEvent) -> int:
    return WebhookAttempt.objects.filter(
        subscriber=subscriber, event=event, is_redelivery=False
    ).count()


def subscribers_pause(*, subscriber_ids, reason: str, now: datetime) -> int:
    """Stop deliveries to these subscribers (their cursors stay; nothing is skipped);
    how many were running. One UPDATE."""
    return Subscriber.objects.filter(pk__in=list(subscriber_ids), paused_at__isnull=True).update(
        paused_at=now, pause_reason=reason
    )


def subscribers_resume(*, subscriber_ids) -> int:
    """Deliver again from their cursors at the next dispatch, with a fresh failure count;
    how many were paused. One UPDATE."""
    return Subscriber.objects.filter(pk__in=list(subscriber_ids), paused_at__isnull=False).update(
        paused_at=None, pause_reason="", consecutive_failures=0, next_attempt_at=None
    )


def webhook_attempts_redeliver(*, attempt_ids) -> tuple[list[WebhookAttempt], int]:
    """POST the events of these attempts to their subscribers again, now, each recorded
    as a new attempt marked as a redelivery. The subscribers' cursors, failure counts and
    pauses stay as they are. Inactive subscribers are skipped; returns (sent, skipped)."""
    attempts = list(
        WebhookAttempt.objects.filter(pk__in=list(attempt_ids))
        .select_related("subscriber", *(f"event__{name}" for name in EVENT_RELATED))
        .order_by("pk")
    )
    made = {
        (row["subscriber"], row["event"]): row["n"]
        for row in WebhookAttempt.objects.filter(
            subscriber__in={a.subscriber_id for a in attempts},
            event__in={a.event_id for a in attempts},
        )
        .values("subscriber", "event")
        .annotate(n=Count("pk"))
    }
    sent, skipped = [], 0
    for old in attempts:
        if not old.subscriber.is_active:
            skipped += 1
            continue
        key = (old.subscriber_id, old.event_id)
        made[key] = made.get(key, 0) + 1
        attempt = _post(old.subscriber, old.event, attempt=made[key], is_redelivery=True)
        attempt.save()
        sent.append(attempt)
    return sent, skipped


# --- the POST -------------------------------------------------------------------------------


def _post(
    subscriber: Subscriber, event: TicketEvent, *, attempt: int, is_redelivery: bool
) -> WebhookAttempt:
    """POST one event, signed; the attempt row it makes is not saved yet."""
    body = event_json(event)
    sent_at = timezone.now()
    timestamp = int(sent_at.timestamp())
    kind = event_type(event.action)
    request = urllib.request.Request(
        subscriber.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Xietong-Webhooks/1",
            "X-Xietong-Event-Id": event_public_id(event.pk),
            "X-Xietong-Event-Type": kind,
            "X-Xietong-Timestamp": str(timestamp),
            "X-Xietong-Signature": sign(subscriber.secret, timestamp, body),
        },
    )
    status, error = None, ""
    started = time.monotonic()
    try:
        with opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            status = response.status
            response.read(MAX_ERROR)
    except urllib.error.HTTPError as exc:
        status = exc.code
        with exc:  # the refusal's socket, closed here rather than whenever it is collected
            error = f"HTTP {exc.code}: {_answer(exc)}"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError, a refused connection or a timeout (OSErrors); a broken answer.
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = round((time.monotonic() - started) * 1000)
    if status is not None and not 200 <= status < 300 and not error:
        error = f"HTTP {status}"
    return WebhookAttempt(
        subscriber=subscriber,
        event=event,
        event_type=kind,
        attempt=attempt,
        status_code=status,
        error=error[: MAX_ERROR * 2],
        duration_ms=duration_ms,
        request_body=body.decode(),
        sent_at=sent_at,
        is_redelivery=is_redelivery,
    )


def _answer(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read(MAX_ERROR).decode("utf-8", "replace").strip() or exc.reason
    except (OSError, http.client.HTTPException):
        return str(exc.reason)


def feed_watch() -> list[FeedBlocker]:
    """Warn, in the log, of each transaction that has held the event feed back for longer
    than FEED_STALL_WARN_SECONDS: webhooks and GET /api/v1/events wait behind it (they
    never skip), so ops must hear which session to end. Beat runs it every minute."""
    blockers = feed_blockers(older_than=timedelta(seconds=settings.FEED_STALL_WARN_SECONDS))
    for blocker in blockers:
        logger.warning(
            "The event feed waits behind transaction pid %d (database %r, user %r, %s, "
            "open for %s): %s",
            blocker.pid,
            blocker.database,
            blocker.user,
            blocker.state,
            blocker.age,
            blocker.query,
        )
    return blockers

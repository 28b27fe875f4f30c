"""Sending the outbox, after commit and in a worker: claim, send, back off, retry.

Each delivery is a row with a unique key, claimed by a conditional UPDATE before
it is sent, so a retry, a second worker or a re-run sweep never sends it twice.
"""

import json
import logging
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F, Q
from django.utils import timezone

from .. import bots
from ..models import Delivery

logger = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-send: take it over.
CLAIM_TIMEOUT = timedelta(seconds=settings.DELIVERY_CLAIM_TIMEOUT_SECONDS)
MAX_ATTEMPTS = 8


class DeliveryError(Exception):
    """The channel refused or could not be reached; the delivery will be retried."""


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


def backoff(
    attempts: int,
    *,
    base: timedelta = timedelta(seconds=30),
    cap: timedelta = timedelta(hours=1),
) -> timedelta:
    """The wait after the ``attempts``-th failure in a row: ``base`` doubled per failure
    after the first, capped (30 s, 1 min, 2 min, … an hour by default). The outbox and
    the webhooks (integration.services) both back off with it."""
    return min(base * 2 ** min(max(attempts - 1, 0), 32), cap)


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
    headers = {bots.DELIVERY_KEY_HEADER: delivery.key}
    status, payload = post_json(request.url, request.body, headers=headers)
    if not bots.answer_ok(kind=store.bot_kind, status=status, payload=payload):
        raise DeliveryError(f"{store.bot_kind} answered {status}: {payload!r}"[:500])


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the body and call the GET's
    # answer a success: a 3xx is the receiver's answer, and not a 2xx.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# Every POST the outbox and the webhooks (integration.services) make goes through it.
opener = urllib.request.build_opener(_NoRedirects)


def post_json(url: str, body: dict, *, headers: dict | None = None) -> tuple[int, dict | None]:
    data = json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with opener.open(request, timeout=settings.BOT_TIMEOUT_SECONDS) as response:
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

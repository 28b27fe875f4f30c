"""Live updates for open dashboards: which of a store's tickets changed, and since when.

The source of truth is the event log itself (``TicketEvent``: every new ticket, state
change and decision writes one, with an increasing id), so a browser that reconnects
with ``Last-Event-ID`` misses nothing. What differs by deployment is how a waiting
stream learns that there is something to read:

- with ``REDIS_URL`` (production, CI): the services announce changed stores on
  commit (``tickets.signals.tickets_changed``); ``tickets/receivers.py`` publishes them
  on a Redis channel per store, and each stream sleeps on its subscription, reading
  the log only when woken (and every ``LIVE_FALLBACK_SECONDS`` in case a message was
  lost);
- with no server (``make run`` on a fresh machine): each stream reads the log every
  ``LIVE_POLL_SECONDS``, one indexed query.
"""

import json
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from django.conf import settings
from django.db import connection

from .models import EventAction, TicketEvent

logger = logging.getLogger(__name__)

CHANNEL = "xietong:live:store:{}"
# Staff-only events never reach a store's page.
HIDDEN_ACTIONS = (EventAction.STAFF_NOTE,)


class LiveEvent(NamedTuple):
    id: int
    ticket_id: int
    action: str


def live_latest_id() -> int:
    """Where a new stream starts: after everything already written."""
    return TicketEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def live_events_after(*, store_id: int, after_id: int, limit: int = 200) -> list[LiveEvent]:
    """The store's events written after ``after_id``, oldest first (a pk range scan)."""
    rows = (
        TicketEvent.objects.filter(pk__gt=after_id, ticket__store_id=store_id)
        .exclude(action__in=HIDDEN_ACTIONS)
        .order_by("pk")
        .values_list("pk", "ticket_id", "action")[:limit]
    )
    return [LiveEvent(*row) for row in rows]


_redis_client = None


def _redis():
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return _redis_client


def live_publish(store_ids: Iterable[int]) -> None:
    """Wake the streams of these stores (after commit). Without Redis the streams
    poll, so there is nothing to do; a Redis failure is logged, never raised: the
    streams' fallback read catches up."""
    if not settings.REDIS_URL:
        return
    try:
        pipe = _redis().pipeline(transaction=False)
        for store_id in set(store_ids):
            pipe.publish(CHANNEL.format(store_id), "1")
        pipe.execute()
    except Exception:  # noqa: BLE001 - any Redis failure; streams fall back to reading the log
        logger.warning("Could not publish live updates for %s", store_ids, exc_info=True)


@contextmanager
def live_waiter(store_id: int) -> Iterator:
    """A ``wait(timeout) -> bool`` for one store: True when there may be news."""
    if not settings.REDIS_URL:

        def poll(timeout: float) -> bool:
            time.sleep(min(timeout, settings.LIVE_POLL_SECONDS))
            return True

        yield poll
        return
    pubsub = _redis().pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(CHANNEL.format(store_id))
    except Exception:  # noqa: BLE001 - Redis down: behave as the poller does
        logger.warning("Live updates: Redis unavailable, polling the event log", exc_info=True)
        pubsub = None
    last_read = time.monotonic()

    def wait(timeout: float) -> bool:
        nonlocal last_read
        if pubsub is None:
            time.sleep(min(timeout, settings.LIVE_POLL_SECONDS))
            return True
        deadline = time.monotonic() + timeout
        woke = False
        while not woke and time.monotonic() < deadline:
            try:
                message = pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - a dropped connection: read the log instead
                time.sleep(min(timeout, settings.LIVE_POLL_SECONDS))
                return True
            woke = message is not None
        if woke or time.monotonic() - last_read >= settings.LIVE_FALLBACK_SECONDS:
            last_read = time.monotonic()
            return True
        return False

    try:
        yield wait
    finally:
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # noqa: BLE001
                logger.debug("closing the live subscription failed", exc_info=True)


def live_stream(*, store_id: int, after_id: int, seconds: float) -> Iterator[str]:
    """Server-Sent Events for one store for ``seconds`` (then the browser reconnects
    with Last-Event-ID and nothing is lost): ``event: ticket`` with the ticket's id
    and the action, and a comment line as a keep-alive."""
    # The position first: a browser that reconnects before any event came resumes
    # from here (Last-Event-ID), so nothing written in between is lost.
    yield f"retry: {int(settings.LIVE_RETRY_MS)}\nid: {after_id}\n\n"
    end = time.monotonic() + seconds
    last_sent = time.monotonic()
    with live_waiter(store_id) as wait:
        first = True  # catch up at once (a reconnect with Last-Event-ID), then wait
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            if first or wait(min(left, settings.LIVE_KEEPALIVE_SECONDS)):
                first = False
                events = live_events_after(store_id=store_id, after_id=after_id)
                if settings.REDIS_URL and not connection.in_atomic_block:
                    # Between wake-ups a stream holds no database connection.
                    connection.close()
                for event in events:
                    after_id = event.id
                    data = json.dumps({"ticket": event.ticket_id, "action": event.action})
                    yield f"id: {event.id}\nevent: ticket\ndata: {data}\n\n"
                    last_sent = time.monotonic()
            if time.monotonic() - last_sent >= settings.LIVE_KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()

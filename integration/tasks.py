"""Celery tasks: thin, idempotent calls into integration.services."""

from celery import shared_task
from django.utils import timezone

from .services import feed_watch as feed_watch_service
from .services import subscriber_deliver, subscribers_due


@shared_task(acks_late=True, ignore_result=True)
def webhook_dispatch() -> int:
    """Beat runs this every WEBHOOK_DISPATCH_INTERVAL_SECONDS: one delivery task per due
    subscriber (queue "webhooks", CELERY_TASK_ROUTES), so a slow or failing receiver
    holds only its own task, never the others'."""
    ids = subscribers_due(now=timezone.now())
    for subscriber_id in ids:
        webhook_deliver.delay(subscriber_id)
    return len(ids)


@shared_task(acks_late=True, ignore_result=True)
def webhook_deliver(subscriber_id: int) -> None:
    """One delivery run; a duplicate finds the subscriber claimed or up to date. A run
    that stopped at its budget with events waiting queues the next one at once."""
    run = subscriber_deliver(subscriber_id=subscriber_id, now=timezone.now())
    if run.more:
        webhook_deliver.delay(subscriber_id)


@shared_task(ignore_result=True)
def feed_watch() -> int:
    """Beat runs this every minute: log what holds the event feed back, if anything."""
    return len(feed_watch_service())

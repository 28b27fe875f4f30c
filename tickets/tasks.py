"""Celery tasks: thin, idempotent calls into the services."""

import logging

from celery import shared_task
from django.utils import timezone

from .idempotency import api_idempotency_keys_purge
from .services.deliveries import delivery_send
from .services.sweeps import sweep_run

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def sweep_deadlines() -> dict:
    """Beat runs this every SWEEP_INTERVAL_SECONDS; running it twice is harmless."""
    return sweep_run(now=timezone.now()).as_dict()


@shared_task(acks_late=True, ignore_result=True)
def deliver_batch(delivery_ids: list[int]) -> None:
    """Send deliveries; each is claimed first, so a repeat or a second worker skips it.
    Failures are rescheduled with backoff on the row and queued again by the sweep."""
    for delivery_id in delivery_ids:
        delivery_send(delivery_id=delivery_id)


@shared_task(acks_late=True, ignore_result=True)
def purge_idempotency_keys() -> int:
    """Beat runs this daily: API idempotency keys older than 24 h are forgotten."""
    return api_idempotency_keys_purge(now=timezone.now())

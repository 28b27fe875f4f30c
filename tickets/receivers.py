"""The thin layer between the services and the outside: signal receivers that queue
Celery tasks and wake the dashboards' live streams.

Connected in ``TicketsConfig.ready``. The services send the signals (after commit)
and never import this module or the tasks, which keeps the import graph a tree.
"""

import logging

from django.dispatch import receiver

from .live import live_publish
from .signals import deliveries_ready, tickets_changed
from .tasks import deliver_batch

logger = logging.getLogger(__name__)


@receiver(deliveries_ready, dispatch_uid="tickets.queue_deliveries")
def queue_deliveries(sender, ids: list[int], **kwargs) -> None:
    """Hand deliveries to the workers. If the broker is down the rows stay pending
    and the next sweep queues them again: nothing is lost."""
    try:
        deliver_batch.delay(ids)
    except Exception:  # noqa: BLE001 - any broker failure; the sweep retries later
        logger.exception("Could not queue %d deliveries; the sweep will retry", len(ids))


@receiver(tickets_changed, dispatch_uid="tickets.wake_live_streams")
def wake_live_streams(sender, store_ids: list[int], **kwargs) -> None:
    """Open dashboards of these stores refresh (Redis pub/sub; a no-op when polling)."""
    live_publish(store_ids)

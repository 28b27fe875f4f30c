"""The thin layer between the services and Celery: signal receivers that queue tasks.

Connected in ``TicketsConfig.ready``. The services send the signals (after commit)
and never import this module or the tasks, which keeps the import graph a tree.
"""

import logging

from django.dispatch import receiver

from .signals import deliveries_ready
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

"""The thin layer between the arbitration services and Celery (connected in
``ArbitrationConfig.ready``)."""

import logging

from django.dispatch import receiver

from .signals import reports_stale
from .tasks import reports_backfill

logger = logging.getLogger(__name__)


@receiver(reports_stale, dispatch_uid="arbitration.queue_reports_backfill")
def queue_reports_backfill(sender, start, end, **kwargs) -> None:
    """Re-compute the days; if the broker is down, the next nightly run still
    recomputes yesterday, and `manage.py nightly_report --date … --to …` the rest."""
    try:
        reports_backfill.delay(start.isoformat(), end.isoformat())
    except Exception:  # noqa: BLE001 - any broker failure
        logger.exception("Could not queue the report back-fill %s..%s", start, end)

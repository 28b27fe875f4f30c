"""Celery tasks: thin, idempotent calls into the services."""

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from .penalties import month_bounds, month_of, settlement_close_month
from .reports import local_yesterday, report_day


@shared_task(acks_late=True, ignore_result=True)
def nightly_reports() -> int:
    """Beat runs this at 02:00 Asia/Shanghai: yesterday, for every store. Re-running
    (a retry, a second beat) replaces the day; it never doubles it."""
    return report_day(day=local_yesterday(timezone.now()))


@shared_task(acks_late=True, ignore_result=True)
def monthly_settlement() -> int:
    """Beat runs this on the 1st at 03:00 Asia/Shanghai (after the nightly report):
    last month's JD settlement statements. Re-running replaces them."""
    now = timezone.now()
    this_month_start, _ = month_bounds(month_of(now))
    last_month = month_of(this_month_start - timedelta(days=1))
    return len(settlement_close_month(month=last_month, now=now))


@shared_task(acks_late=True, ignore_result=True)
def reports_backfill(start: str, end: str) -> int:
    """Re-compute the store-day reports of local days ``start``..``end`` (ISO dates),
    e.g. after an appeal overturned a decision they counted. Idempotent."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    days = 0
    while first <= last:
        report_day(day=first)
        first += timedelta(days=1)
        days += 1
    return days

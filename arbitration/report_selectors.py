"""Reads of the nightly store-day reports, for the merchants' page, the downloads, the
ops' platform-wide export and the store overview.

The listings return one queryset with the store joined (``select_related``), ordered by
day then store code, so listing or exporting costs one query however many rows.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from django.db.models import QuerySet

from merchants.models import Store

from .models import StoreDayReport
from .reports import local_day_bounds


def _ordered(queryset: QuerySet[StoreDayReport]) -> QuerySet[StoreDayReport]:
    # Store codes are unique and (store, day) is unique: the order is total, so chunked
    # reads and repeated downloads list the rows the same way.
    return queryset.select_related("store").order_by("day", "store__code")


def store_reports(*, store: Store, start: date, end: date) -> QuerySet[StoreDayReport]:
    """One store's days from ``start`` to ``end``, both included (Asia/Shanghai days)."""
    return _ordered(StoreDayReport.objects.filter(store=store, day__range=(start, end)))


def platform_reports(
    *, start: date, end: date, platform: str | None = None
) -> QuerySet[StoreDayReport]:
    """Every store's days from ``start`` to ``end``, both included; one platform's if given."""
    queryset = StoreDayReport.objects.filter(day__range=(start, end))
    if platform:
        queryset = queryset.filter(store__platform=platform)
    return _ordered(queryset)


# --- the store overview's complete days ------------------------------------------------


class ReportDay(NamedTuple):
    """The figures of one complete day report that the store overview shows."""

    day: date
    received: int
    escalated: int
    replied_in_time: int
    dispute_rate: Decimal | None


class CompleteReports(NamedTuple):
    days: dict[date, ReportDay]  # the complete rows from ``first`` to yesterday, by day
    latest: ReportDay | None  # the latest complete row, maybe older than ``first``


def report_is_complete(*, day: date, computed_at: datetime, today: date) -> bool:
    """A row counts only for a day that is over and was computed after it ended: a row
    for today, or one the batch wrote before midnight (a manual run), misses tickets."""
    return day < today and computed_at >= local_day_bounds(day)[1]


def store_complete_reports(*, store: Store, first: date, today: date) -> CompleteReports:
    """The store's complete day reports from ``first`` up to yesterday (Asia/Shanghai
    days), and its latest complete one: one query, a backward range read of the
    (store, day) unique index.

    It reads the latest ``(today - first).days + 1`` rows before today: every row of the
    window when the batch ran each night, and at least one older row otherwise. Should
    every one of them have been computed early, the latest complete row is left unknown.
    """
    rows = (
        StoreDayReport.objects.filter(store=store, day__lt=today)
        .order_by("-day")
        .values_list(
            "day", "received", "escalated", "replied_in_time", "dispute_rate", "computed_at"
        )[: (today - first).days + 1]
    )
    days: dict[date, ReportDay] = {}
    latest = None
    for *figures, computed_at in rows:
        report = ReportDay(*figures)
        if not report_is_complete(day=report.day, computed_at=computed_at, today=today):
            continue
        latest = latest or report
        if report.day >= first:
            days[report.day] = report
    return CompleteReports(days, latest)

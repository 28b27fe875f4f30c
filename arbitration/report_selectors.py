"""Reads of the nightly store-day reports, for the merchants' page, the downloads and
the ops' platform-wide export.

Each returns one queryset with the store joined (``select_related``), ordered by day
then store code, so listing or exporting costs one query however many rows.
"""

from datetime import date

from django.db.models import QuerySet

from merchants.models import Store

from .models import StoreDayReport


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

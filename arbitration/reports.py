"""The nightly batch: each store's figures for one Asia/Shanghai day.

Every figure is an SQL aggregate grouped by store (a fixed number of queries per
day, whatever the number of tickets or stores). A day is cut at Asia/Shanghai
midnight, never UTC midnight (Zammad #5865). Re-running a day replaces its rows;
two runs of the same day at once are serialised by a lock, so nothing doubles.
"""

import logging
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zlib import crc32

from django.db import connection, transaction
from django.db.models import Aggregate, Count, F, FloatField, Func, Q, Sum
from django.utils import timezone

from merchants.clock import SHANGHAI
from merchants.models import DailyOrderVolume, Store
from tickets.bulk import insert_rows
from tickets.models import Reply, Ticket

from .models import Compensation, Judgment, PenaltyEntry, StoreDayReport, Violation
from .penalties import penalties_apply

logger = logging.getLogger(__name__)

# Taobao 纠纷退款率 / Tmall 平台纠纷率: the last 30 days, this day included (SPEC.md).
RATE_WINDOW_DAYS = 30
REPORT_FIELDS = (
    "store",
    "day",
    "received",
    "replied_in_time",
    "replied_late",
    "timed_out",
    "escalated",
    "judged_liable",
    "judged_not_liable",
    "compensated",
    "median_reply_seconds",
    "p90_reply_seconds",
    "violation_points",
    "fines",
    "liable_30d",
    "paid_orders_30d",
    "dispute_rate",
    "computed_at",
)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[00:00, next 00:00) of an Asia/Shanghai day, as aware instants."""
    start = datetime.combine(day, time.min, tzinfo=SHANGHAI)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=SHANGHAI)


def local_yesterday(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date() - timedelta(days=1)


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(f) WITHIN GROUP (ORDER BY expr)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=fraction, **extra)


def _epoch_seconds(expression):
    return Func(
        expression, template="EXTRACT(EPOCH FROM %(expressions)s)", output_field=FloatField()
    )


def percentile_cont(values: list[float], fraction: float) -> float:
    """The same interpolation as percentile_cont, for databases without it (SQLite)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def report_day(*, day: date, now: datetime | None = None) -> int:
    """Compute (or recompute) every store's row for ``day``; returns rows written."""
    now = now or timezone.now()
    start, end = local_day_bounds(day)
    with transaction.atomic():
        _lock_day(day)
        _batch_parallelism()
        # The penalty ledger first: its points and fines are part of the day's figures.
        penalties_apply(start=start, end=end)
        figures = _figures(day=day, start=start, end=end)
        StoreDayReport.objects.filter(day=day).delete()
        store_ids = Store.objects.filter(is_active=True).values_list("pk", flat=True)
        insert_rows(
            StoreDayReport,
            REPORT_FIELDS,
            (_row(store_id, day, figures[store_id], now) for store_id in store_ids),
        )
        written = len(store_ids)
    logger.info("Report for %s: %d stores", day.isoformat(), written)
    return written


# The app's connections start with parallel workers off (config/settings.py: right for
# short page queries); the report's aggregates over a day of a whole platform use them
# (10 M tickets: one day 8.0 s without, 1.0 s with 2 workers).
REPORT_PARALLEL_WORKERS = 2


def _batch_parallelism() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('max_parallel_workers_per_gather', %s, true)",
                [str(REPORT_PARALLEL_WORKERS)],
            )


def _lock_day(day: date) -> None:
    """Two runs for the same day queue up instead of interleaving (held to commit)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [crc32(b"store-day-report") & 0x7FFFFFFF, day.toordinal()],
            )


def _figures(*, day: date, start: datetime, end: datetime) -> dict[int, dict]:
    figures: dict[int, dict] = defaultdict(dict)

    def merge(rows, key="store_id"):
        for row in rows:
            store_id = row.pop(key)
            figures[store_id].update(row)

    in_day = {"gte": start, "lt": end}
    merge(
        Ticket.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("store_id")
        .annotate(received=Count("pk"))
        .order_by()
    )
    merge(
        Ticket.objects.filter(escalated_at__gte=start, escalated_at__lt=end)
        .values("store_id")
        .annotate(
            escalated=Count("pk"),
            # Escalated with no reply: the deadline passed (视为放弃举证).
            timed_out=Count("pk", filter=Q(merchant_reply__isnull=True)),
        )
        .order_by()
    )
    replies = Reply.objects.filter(replied_at__gte=in_day["gte"], replied_at__lt=in_day["lt"])
    reply_counts = {
        "replied_in_time": Count("pk", filter=Q(replied_at__lte=F("ticket__due_at"))),
        "replied_late": Count("pk", filter=Q(replied_at__gt=F("ticket__due_at"))),
    }
    if connection.vendor == "postgresql":
        duration = _epoch_seconds(F("replied_at") - F("ticket__created_at"))
        merge(
            replies.values(store_id=F("ticket__store_id"))
            .annotate(
                **reply_counts,
                median=PercentileCont(duration, 0.5),
                p90=PercentileCont(duration, 0.9),
            )
            .order_by()
        )
    else:
        merge(replies.values(store_id=F("ticket__store_id")).annotate(**reply_counts).order_by())
        durations: dict[int, list[float]] = defaultdict(list)
        for store_id, replied_at, created_at in replies.values_list(
            "ticket__store_id", "replied_at", "ticket__created_at"
        ):
            durations[store_id].append((replied_at - created_at).total_seconds())
        for store_id, values in durations.items():
            figures[store_id]["median"] = percentile_cont(values, 0.5)
            figures[store_id]["p90"] = percentile_cont(values, 0.9)
    merge(
        # An overturned decision is void: a day computed again leaves it out.
        Judgment.objects.filter(judged_at__gte=start, judged_at__lt=end, overturned_at=None)
        .values(store_id=F("ticket__store_id"))
        .annotate(
            judged_liable=Count("pk", filter=Q(merchant_liable=True)),
            judged_not_liable=Count("pk", filter=Q(merchant_liable=False)),
        )
        .order_by()
    )
    merge(
        Compensation.objects.filter(decided_at__gte=start, decided_at__lt=end)
        .values(store_id=F("ticket__store_id"))
        .annotate(compensated=Count("pk"))
        .order_by()
    )
    merge(
        Violation.objects.filter(found_at__gte=start, found_at__lt=end, overturned_at=None)
        .values("store_id")
        .annotate(forged_points=Sum("points"))
        .order_by()
    )
    merge(
        PenaltyEntry.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .values("store_id")
        .annotate(penalty_points=Sum("points"), fines=Sum("amount"))
        .order_by()
    )
    window_start, _ = local_day_bounds(day - timedelta(days=RATE_WINDOW_DAYS - 1))
    merge(
        Judgment.objects.filter(
            judged_at__gte=window_start, judged_at__lt=end, merchant_liable=True, overturned_at=None
        )
        .values(store_id=F("ticket__store_id"))
        .annotate(liable_30d=Count("pk"))
        .order_by()
    )
    merge(
        DailyOrderVolume.objects.filter(
            date__gte=day - timedelta(days=RATE_WINDOW_DAYS - 1), date__lte=day
        )
        .values("store_id")
        .annotate(paid_orders_30d=Sum("paid_orders"))
        .order_by()
    )
    return figures


def _row(store_id: int, day: date, f: dict, now: datetime) -> tuple:
    liable, paid = f.get("liable_30d", 0), f.get("paid_orders_30d") or 0
    rate = (
        (Decimal(liable) * 100 / Decimal(paid)).quantize(Decimal("0.0001"), ROUND_HALF_UP)
        if paid
        else None
    )
    median, p90 = f.get("median"), f.get("p90")
    return (
        store_id,
        day,
        f.get("received", 0),
        f.get("replied_in_time", 0),
        f.get("replied_late", 0),
        f.get("timed_out", 0),
        f.get("escalated", 0),
        f.get("judged_liable", 0),
        f.get("judged_not_liable", 0),
        f.get("compensated", 0),
        round(median) if median is not None else None,
        round(p90) if p90 is not None else None,
        (f.get("forged_points") or 0) + (f.get("penalty_points") or 0),
        f.get("fines") or Decimal("0.00"),
        liable,
        paid,
        rate,
        now,
    )

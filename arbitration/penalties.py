"""JD ops consequences (SPEC.md "JD ops consequences"): the penalty ledger and the
monthly settlement.

- ``penalties_apply``: every JD ticket that timed out (escalated because its deadline
  passed with no reply: 视为放弃举证) gets one ledger entry; the n-th of its store in an
  Asia/Shanghai calendar month follows the active rule with the highest threshold ≤ n.
- ``settlement_close_month``: fines come off what the month's orders pay the store, then
  off the deposit (保证金), which never goes below zero; what neither covers is the
  shortfall. Points in the closure window flag a store for closure.

Both are set-based: a fixed number of queries whatever the number of tickets or stores.
Amounts and thresholds are ops data (PenaltyRule, PenaltyPolicy), seeded by migration.
"""

import bisect
import logging
import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zlib import crc32

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.clock import SHANGHAI
from merchants.models import DailyOrderVolume, Platform, Store
from tickets.bulk import insert_rows
from tickets.models import Ticket

from .models import PenaltyEntry, PenaltyPolicy, PenaltyRule, SettlementStatement, Violation

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

ENTRY_FIELDS = (
    "store",
    "ticket",
    "rule",
    "action",
    "points",
    "amount",
    "occurred_at",
    "month",
    "ordinal",
)


# --- months ------------------------------------------------------------------------------


def month_of(instant: datetime) -> date:
    """The Asia/Shanghai calendar month of an instant, as its first day (cut at local
    midnight, not UTC midnight: Zammad #5865)."""
    return instant.astimezone(SHANGHAI).date().replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[start, end) of an Asia/Shanghai calendar month as aware instants."""
    first = month.replace(day=1)
    return (
        datetime.combine(first, time.min, tzinfo=SHANGHAI),
        datetime.combine(next_month(first), time.min, tzinfo=SHANGHAI),
    )


_MONTH = re.compile(r"(\d{4})-(\d{2})")


def parse_month(value: str) -> date:
    """'2026-11' → date(2026, 11, 1); ValueError for anything else."""
    match = _MONTH.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not a month as YYYY-MM: {value!r}")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12 or year < 2000:
        raise ValueError(f"not a month as YYYY-MM: {value!r}")
    return date(year, month, 1)


# --- the ledger --------------------------------------------------------------------------


def _lock_ledger() -> None:
    """Runs that append to the ledger queue up (held to commit): two of them counting the
    same store-month at once would hand out the same ordinal twice."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [crc32(b"penalty-ledger")])


def penalties_apply(*, start: datetime, end: datetime) -> int:
    """Write a ledger entry for every JD ticket that timed out in [start, end) and has
    none yet; returns the number of entries written.

    Idempotent: a ticket with an entry is never a candidate again, so running twice or
    over overlapping windows adds nothing. Queries (PostgreSQL; SQLite has no lock):
    the ledger lock, the active rules, the candidates, the store-months' counts so far,
    one INSERT.
    """
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValueError("penalties_apply needs aware instants.")
    with transaction.atomic():
        _lock_ledger()
        rules = list(
            PenaltyRule.objects.filter(platform=Platform.JD, is_active=True).order_by("from_count")
        )
        candidates = list(
            Ticket.objects.filter(
                store__platform=Platform.JD,
                escalated_at__gte=start,
                escalated_at__lt=end,
                # Escalated with no reply: the deadline passed (视为放弃举证). A ticket
                # escalated after a "not settled" reply or a consumer objection was answered.
                merchant_reply__isnull=True,
                penalty__isnull=True,
            )
            .order_by("escalated_at", "pk")
            .values_list("pk", "store_id", "escalated_at")
        )
        if not candidates:
            return 0
        rows = _entry_rows(candidates, rules)
        insert_rows(PenaltyEntry, ENTRY_FIELDS, rows)
    skipped = len(candidates) - len(rows)
    if skipped:
        logger.warning(
            "%d timed-out JD tickets got no penalty entry: no active rule covers their "
            "ordinal (is there an active JD rule from the 1st timeout?)",
            skipped,
        )
    return len(rows)


def _entry_rows(candidates: list[tuple], rules: list[PenaltyRule]) -> list[tuple]:
    months = {month_of(escalated_at) for _pk, _store, escalated_at in candidates}
    # Entries so far per (store, month), for the months the candidates fall in; every
    # store's, so the query carries no list of store ids.
    counts: dict[tuple[int, date], int] = defaultdict(int)
    for store_id, month, n in (
        PenaltyEntry.objects.filter(month__in=months)
        .values("month", "store_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("store_id", "month", "n")
    ):
        counts[store_id, month] = n
    thresholds = [rule.from_count for rule in rules]
    rows = []
    # Candidates come ordered by (escalated_at, pk): each store-month's new ones get
    # the next ordinals in that order.
    for ticket_id, store_id, escalated_at in candidates:
        month = month_of(escalated_at)
        ordinal = counts[store_id, month] + 1
        index = bisect.bisect_right(thresholds, ordinal) - 1
        if index < 0:
            # No rule for this ordinal: no entry, and the ordinal is not used up, so
            # a store-month's ordinals stay 1, 2, 3, … like its entries.
            continue
        rule = rules[index]
        counts[store_id, month] = ordinal
        rows.append(
            (
                store_id,
                ticket_id,
                rule.pk,
                rule.action,
                rule.points,
                rule.amount,
                escalated_at,
                month,
                ordinal,
            )
        )
    return rows


# --- the monthly settlement --------------------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    """The floor arithmetic of one store-month, in CNY quantized to 0.01."""

    payable: Decimal
    fines: Decimal
    deducted_from_payable: Decimal
    deposit_before: Decimal
    deducted_from_deposit: Decimal
    deposit_after: Decimal
    shortfall: Decimal
    net_payable: Decimal


def settlement_compute(*, payable: Decimal, fines: Decimal, deposit: Decimal) -> Settlement:
    """Fines come off the payable amount first, then off the deposit (保证金), which is
    the floor: it never goes below zero, and what neither covers is the shortfall."""
    payable = max(Decimal(payable), ZERO).quantize(CENT)
    fines = max(Decimal(fines), ZERO).quantize(CENT)
    deposit = Decimal(deposit).quantize(CENT)
    from_payable = min(fines, payable)
    remaining = fines - from_payable
    from_deposit = min(remaining, max(deposit, ZERO))
    return Settlement(
        payable=payable,
        fines=fines,
        deducted_from_payable=from_payable,
        deposit_before=deposit,
        deducted_from_deposit=from_deposit,
        deposit_after=deposit - from_deposit,
        shortfall=remaining - from_deposit,
        net_payable=payable - from_payable,
    )


def _sums(queryset, field: str, **filters) -> dict[int, Decimal | int]:
    """One aggregate query: ``field`` summed per store."""
    return dict(
        queryset.filter(**filters)
        .values("store_id")
        .annotate(total=Sum(field))
        .order_by()
        .values_list("store_id", "total")
    )


def settlement_close_month(
    *, month: date, now: datetime | None = None
) -> list[SettlementStatement]:
    """Close an Asia/Shanghai month for every JD store: one statement each, REPLACING the
    month's earlier statements, and each store's deposit left at its ``deposit_after``.

    Re-closing does not deduct twice: the earlier close's deposit deduction is given
    back first. It is added back to the deposit as it is now rather than the old
    ``deposit_before`` restored, so a top-up since, or a later month's close, is kept.

    One transaction; the JD store rows are locked in pk order first, so two closes (or
    a close and a deposit change) queue up instead of interleaving.
    """
    now = now or timezone.now()
    month = month.replace(day=1)
    start, end = month_bounds(month)
    if now < end:
        raise ValidationError(
            _("%(month)s is not over yet: a month is closed after its last day.")
            % {"month": f"{month:%Y-%m}"},
            code="month_not_over",
        )
    with transaction.atomic():
        # The month's ledger may miss its last day(s) if the nightly batch has not run
        # yet: bring it up to date (idempotent, a no-op when it is). First, so the ledger
        # lock is always taken before store rows, as the nightly batch does.
        penalties_apply(start=start, end=end)
        # NO KEY: ledger inserts elsewhere take KEY SHARE on their store; only the
        # deposit (not a key) changes here, so they need not wait for this close.
        stores = list(
            Store.objects.select_for_update(no_key=True).filter(platform=Platform.JD).order_by("pk")
        )
        given_back = dict(
            SettlementStatement.objects.filter(month=month).values_list(
                "store_id", "deducted_from_deposit"
            )
        )
        jd_stores = {"store__platform": Platform.JD}
        payable = _sums(
            DailyOrderVolume.objects,
            "paid_amount",
            date__gte=month,
            date__lt=next_month(month),
            **jd_stores,
        )
        fines = _sums(PenaltyEntry.objects, "amount", month=month, **jd_stores)
        policy = PenaltyPolicy.objects.filter(platform=Platform.JD).first()
        window_days = policy.window_days if policy else _default_window_days()
        # The window is the policy's days up to the end of the month, local midnights.
        window_start = datetime.combine(
            next_month(month) - timedelta(days=window_days), time.min, tzinfo=SHANGHAI
        )
        penalty_points = _sums(
            PenaltyEntry.objects,
            "points",
            occurred_at__gte=window_start,
            occurred_at__lt=end,
            **jd_stores,
        )
        violation_points = _sums(
            Violation.objects,
            "points",
            found_at__gte=window_start,
            found_at__lt=end,
            overturned_at=None,
            **jd_stores,
        )

        statements, changed = [], []
        for store in stores:
            deposit = store.deposit + given_back.get(store.pk, ZERO)
            figures = settlement_compute(
                payable=payable.get(store.pk) or ZERO,
                fines=fines.get(store.pk) or ZERO,
                deposit=deposit,
            )
            points = (penalty_points.get(store.pk) or 0) + (violation_points.get(store.pk) or 0)
            statements.append(
                SettlementStatement(
                    store=store,
                    month=month,
                    **asdict(figures),
                    points_in_window=points,
                    # Without a policy nobody has set a threshold: nothing to flag.
                    closure_flag=policy is not None and points >= policy.closure_points,
                    created_at=now,
                )
            )
            if store.deposit != figures.deposit_after:
                store.deposit = figures.deposit_after
                changed.append(store)

        SettlementStatement.objects.filter(month=month).delete()
        SettlementStatement.objects.bulk_create(statements)
        if changed:
            Store.objects.bulk_update(changed, ["deposit"])
    logger.info("Settlement for %s: %d JD stores", f"{month:%Y-%m}", len(statements))
    return statements


def default_window_days() -> int:
    """The closure window when a platform has no PenaltyPolicy."""
    return PenaltyPolicy._meta.get_field("window_days").default


def _default_window_days() -> int:
    logger.warning("No PenaltyPolicy for JD: closure points counted over the default window.")
    return default_window_days()


def store_points_between(*, store: Store, start: datetime, end: datetime) -> int:
    """Points toward the closure threshold earned in [start, end): the penalty ledger
    plus forged-evidence findings not overturned by an appeal. Two aggregates."""
    penalties = PenaltyEntry.objects.filter(
        store=store, occurred_at__gte=start, occurred_at__lt=end
    ).aggregate(n=Sum("points"))["n"]
    violations = Violation.objects.filter(
        store=store, found_at__gte=start, found_at__lt=end, overturned_at=None
    ).aggregate(n=Sum("points"))["n"]
    return (penalties or 0) + (violations or 0)


def settlement_points_refresh(*, store: Store) -> int:
    """Count again the points behind each of a store's settlement statements, and its
    closure flag, after an appeal voided a finding: money is not touched (the month
    stays closed), only points_in_window and closure_flag. Returns statements changed."""
    policy = PenaltyPolicy.objects.filter(platform=store.platform).first()
    window_days = policy.window_days if policy else _default_window_days()
    changed = []
    for statement in SettlementStatement.objects.filter(store=store).order_by("month"):
        _, end = month_bounds(statement.month)
        window_start = datetime.combine(
            next_month(statement.month) - timedelta(days=window_days), time.min, tzinfo=SHANGHAI
        )
        points = store_points_between(store=store, start=window_start, end=end)
        flag = policy is not None and points >= policy.closure_points
        if (statement.points_in_window, statement.closure_flag) != (points, flag):
            statement.points_in_window, statement.closure_flag = points, flag
            changed.append(statement)
    SettlementStatement.objects.bulk_update(changed, ["points_in_window", "closure_flag"])
    return len(changed)

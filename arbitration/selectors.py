"""Reads for the arbitrators' workspace: a store's points toward closure, its
dispute-refund rate, the escalated queue's order and a ticket's neighbours in it.

Nothing here writes. The queue's figures are annotations (correlated subqueries), so
listing the queue costs the same number of queries whatever its length.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from merchants.models import Store
from tickets.models import EvidenceFlag, Ticket, TicketState

from .models import PenaltyEntry, PenaltyPolicy, StoreDayReport, Violation
from .penalties import default_window_days, store_points_between

# The escalated queue: CRC high-risk first (JD priority routing, SPEC.md), then the
# longest waiting; pk breaks ties so "previous / next" is a total order.
QUEUE_ORDER = ("-priority", F("escalated_at").asc(nulls_last=True), "pk")


# --- points toward the closure threshold ---------------------------------------------------


@dataclass(frozen=True)
class StorePoints:
    """A store's penalty and violation points in its platform's closure window, up to
    an instant. ``threshold`` is None when the platform has no penalty policy."""

    points: int
    window_days: int
    threshold: int | None

    def reached(self, points: int | None = None) -> bool:
        total = self.points if points is None else points
        return self.threshold is not None and total >= self.threshold


def store_points_in_window(*, store: Store, now: datetime) -> StorePoints:
    """Points so far: the penalty ledger plus violations not overturned by an appeal,
    in the ``window_days`` up to ``now`` (what the settlement's closure flag counts)."""
    policy = PenaltyPolicy.objects.filter(platform=store.platform).first()
    window_days = policy.window_days if policy else default_window_days()
    start = now - timedelta(days=window_days)
    # Up to and including now: [start, now + 1 µs).
    points = store_points_between(store=store, start=start, end=now + timedelta(microseconds=1))
    return StorePoints(
        points=points,
        window_days=window_days,
        threshold=policy.closure_points if policy else None,
    )


# --- the dispute-refund rate ------------------------------------------------------------


@dataclass(frozen=True)
class StoreRate:
    """The store's rolling 30-day dispute-refund rate from its latest nightly report;
    ``rate`` is None when it had no paid orders in those days."""

    day: date
    rate: Decimal | None


def store_dispute_rate(*, store: Store) -> StoreRate | None:
    """None when the nightly batch has not reported on the store yet."""
    row = (
        StoreDayReport.objects.filter(store=store)
        .order_by("-day")
        .values_list("day", "dispute_rate")
        .first()
    )
    return StoreRate(*row) if row else None


# --- the escalated queue ----------------------------------------------------------------


def _sum_in_window(queryset: QuerySet, at_field: str, now: datetime) -> Coalesce:
    """``points`` of the outer row's store, from the outer row's ``window_start`` to now."""
    rows = (
        queryset.filter(
            store=OuterRef("store"),
            **{f"{at_field}__gte": OuterRef("window_start"), f"{at_field}__lte": now},
        )
        .order_by()
        .values("store")
        .annotate(total=Sum("points"))
        .values("total")[:1]
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def queue_with_figures(queryset: QuerySet[Ticket], *, now: datetime) -> QuerySet[Ticket]:
    """Each ticket with its store's figures, for the queue's columns:

    - ``dispute_rate_latest``: the rate of the store's latest day report;
    - ``points_in_window``: penalty + non-overturned violation points in the window;
    - ``closure_points``: the platform's threshold (None without a policy).

    - ``reuse_flagged`` / ``reuse_cross_store``: whether any of its evidence is flagged
      (tickets.services.evidence_reuse), and whether a flag names another store's ticket.

    One query for the (few) penalty policies; the rest are subqueries of the list's own.
    """
    policies = {p.platform: p for p in PenaltyPolicy.objects.all()}
    default_start = now - timedelta(days=default_window_days())
    window_start = Case(
        *(
            When(store__platform=platform, then=Value(now - timedelta(days=p.window_days)))
            for platform, p in policies.items()
        ),
        default=Value(default_start),
        output_field=DateTimeField(),
    )
    threshold = Case(
        *(
            When(store__platform=platform, then=Value(p.closure_points))
            for platform, p in policies.items()
        ),
        default=Value(None),
        output_field=IntegerField(),
    )
    latest_rate = (
        StoreDayReport.objects.filter(store=OuterRef("store"))
        .order_by("-day")
        .values("dispute_rate")[:1]
    )
    return queryset.annotate(
        window_start=window_start,
        closure_points=threshold,
        dispute_rate_latest=Subquery(latest_rate),
        points_in_window=_sum_in_window(PenaltyEntry.objects, "occurred_at", now)
        + _sum_in_window(Violation.objects.filter(overturned_at=None), "found_at", now),
        **reuse_flag_annotations(),
    )


def reuse_flag_annotations() -> dict:
    """EXISTS subqueries on the flags' ticket index: no query per row."""
    flags = EvidenceFlag.objects.filter(ticket=OuterRef("pk"))
    return {
        "reuse_flagged": Exists(flags),
        "reuse_cross_store": Exists(flags.filter(cross_store=True)),
    }


def ticket_evidence_flags(*, ticket: Ticket) -> list[EvidenceFlag]:
    """The flags on a ticket's evidence for the judge page, another store's first, with
    what each names (the file, the matching ticket and its store): one query."""
    return list(
        EvidenceFlag.objects.filter(ticket=ticket)
        .select_related("evidence", "matched_evidence", "matched_ticket__store")
        .order_by(*EvidenceFlag.ranking())
    )


@dataclass(frozen=True)
class Neighbours:
    """The tickets before and after one in the queue's order: (pk, number) or None."""

    previous: tuple[int, str] | None
    next: tuple[int, str] | None


def queue_neighbours(*, ticket: Ticket) -> Neighbours:
    """Previous and next escalated ticket in the queue's order (CRC first, then the
    longest waiting), two small queries whatever the queue's length."""
    queue = Ticket.objects.filter(state=TicketState.ESCALATED).exclude(pk=ticket.pk)
    priority, at, pk = ticket.priority, ticket.escalated_at, ticket.pk
    # Within one priority: escalated earlier first, never-stamped rows last, then pk.
    if at is None:
        later = Q(escalated_at__isnull=True, pk__gt=pk)
        earlier = Q(escalated_at__isnull=False) | Q(escalated_at__isnull=True, pk__lt=pk)
    else:
        later = (
            Q(escalated_at__gt=at) | Q(escalated_at__isnull=True) | Q(escalated_at=at, pk__gt=pk)
        )
        earlier = Q(escalated_at__lt=at) | Q(escalated_at=at, pk__lt=pk)
    after = queue.filter(Q(priority__lt=priority) | Q(priority=priority) & later)
    before = queue.filter(Q(priority__gt=priority) | Q(priority=priority) & earlier)
    following = after.order_by(*QUEUE_ORDER).values_list("pk", "number").first()
    preceding = (
        before.order_by("priority", F("escalated_at").desc(nulls_first=True), "-pk")
        .values_list("pk", "number")
        .first()
    )
    return Neighbours(previous=preceding, next=following)

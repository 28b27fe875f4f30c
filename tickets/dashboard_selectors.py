"""Reads for the dashboard's bell, notification list, store overview and team page.

Each function costs a fixed number of queries whatever the row count; the
figures are SQL aggregates, never Python loops over tickets.
"""

from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.db.models import Case, Count, F, Q, QuerySet, Value, When
from django.db.models.functions import TruncDate

from merchants.models import Membership, Store

from .models import Notification, ReplyTemplate, Ticket, TicketState

# Days and weeks are cut at Asia/Shanghai midnight, never UTC midnight (SPEC.md, Zammad #5865).
SHANGHAI = ZoneInfo("Asia/Shanghai")

NOTIFICATIONS_PAGE_SIZE = 25
# The bell shows "99+" beyond this: counting stops there, so a store with a long
# backlog (a member who never opened the list) costs no more than one with a few.
BELL_COUNT_CAP = 100
DUE_SOON = timedelta(hours=2)
CHART_DAYS = 30


# --- notifications ----------------------------------------------------------------------


def notifications_for_member(*, membership: Membership) -> QuerySet[Notification]:
    """The notifications of the member's store that the member may see, newest first:
    store-wide ones (no recipient) and those addressed to them (an assignee's reminder)."""
    return (
        Notification.objects.filter(store_id=membership.store_id)
        .filter(Q(recipient__isnull=True) | Q(recipient_id=membership.user_id))
        .order_by("-created_at", "-pk")
    )


def notifications_unread_count(*, membership: Membership, cap: int = BELL_COUNT_CAP) -> int:
    """Notifications newer than the member last opened the list (all of them if never),
    counted up to ``cap``: one query."""
    queryset = notifications_for_member(membership=membership)
    if membership.notifications_seen_at is not None:
        queryset = queryset.filter(created_at__gt=membership.notifications_seen_at)
    return queryset.order_by()[:cap].count()


def notification_is_unread(*, notification: Notification, seen_at: datetime | None) -> bool:
    return seen_at is None or notification.created_at > seen_at


# --- store overview ---------------------------------------------------------------------


def local_week(now: datetime) -> tuple[datetime, datetime]:
    """The Asia/Shanghai week (Monday 00:00 to the next Monday 00:00) holding ``now``."""
    today = now.astimezone(SHANGHAI).date()
    monday = today - timedelta(days=today.weekday())
    start = datetime.combine(monday, time.min, tzinfo=SHANGHAI)
    return start, datetime.combine(monday + timedelta(days=7), time.min, tzinfo=SHANGHAI)


class OverviewFigures(NamedTuple):
    open: int
    due_soon: int
    overdue: int
    replied_in_time_week: int
    escalated_week: int
    week_start: datetime
    week_end: datetime


def store_overview_figures(*, store: Store, now: datetime) -> OverviewFigures:
    """Today's figures for one store, in one aggregate query."""
    week_start, week_end = local_week(now)
    replied_at = "merchant_reply__replied_at"
    figures = Ticket.objects.filter(store=store).aggregate(
        open=Count("pk", filter=Q(state=TicketState.OPEN)),
        due_soon=Count(
            "pk", filter=Q(state=TicketState.OPEN, due_at__gte=now, due_at__lte=now + DUE_SOON)
        ),
        overdue=Count("pk", filter=Q(state=TicketState.OPEN, due_at__lt=now)),
        # Replied this week, no later than the deadline (the reply is one row per
        # ticket, so the join cannot count a ticket twice).
        replied_in_time_week=Count(
            "pk",
            filter=Q(
                **{
                    f"{replied_at}__gte": week_start,
                    f"{replied_at}__lt": week_end,
                    f"{replied_at}__lte": F("due_at"),
                }
            ),
        ),
        escalated_week=Count(
            "pk", filter=Q(escalated_at__gte=week_start, escalated_at__lt=week_end)
        ),
    )
    return OverviewFigures(week_start=week_start, week_end=week_end, **figures)


class DayCount(NamedTuple):
    day: date
    received: int
    escalated: int


def store_daily_counts(*, store: Store, now: datetime, days: int = CHART_DAYS) -> list[DayCount]:
    """Tickets received and escalated on each of the last ``days`` Asia/Shanghai days
    (today included), oldest first, zeros filled in: two grouped queries."""
    today = now.astimezone(SHANGHAI).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=SHANGHAI)
    end = datetime.combine(today + timedelta(days=1), time.min, tzinfo=SHANGHAI)
    tickets = Ticket.objects.filter(store=store)

    def per_day(field: str) -> dict[date, int]:
        rows = (
            tickets.filter(**{f"{field}__gte": start, f"{field}__lt": end})
            .annotate(day=TruncDate(field, tzinfo=SHANGHAI))
            .values("day")
            .annotate(n=Count("pk"))
            .order_by("day")
        )
        return {row["day"]: row["n"] for row in rows}

    received = per_day("created_at")
    escalated = per_day("escalated_at")
    return [
        DayCount(day, received.get(day, 0), escalated.get(day, 0))
        for day in (first + timedelta(days=i) for i in range(days))
    ]


# --- team -------------------------------------------------------------------------------


def team_members(*, store: Store) -> list[Membership]:
    """The store's members with their users, owners first, then by username."""
    owners_first = Case(When(role=Membership.Role.OWNER, then=Value(0)), default=Value(1))
    return list(
        store.memberships.select_related("user").order_by(owners_first, "user__username", "pk")
    )


def store_reply_templates(*, store: Store) -> list[ReplyTemplate]:
    return list(ReplyTemplate.objects.filter(store=store).order_by("title", "pk"))

"""Reads for the dashboard's bell, notification list, store overview and team page.

Each function costs a fixed number of queries whatever the row count; the
figures are SQL aggregates, never Python loops over tickets.
"""

from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.db.models import Case, Count, DateField, F, Q, QuerySet, Value, When
from django.db.models.functions import TruncDate

from arbitration.report_selectors import ReportDay, store_complete_reports
from arbitration.reports import local_day_bounds
from merchants.clock import SHANGHAI
from merchants.models import Membership, Store

from .models import Notification, Reply, ReplyTemplate, Ticket, TicketState

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
    # Days and weeks are cut at Asia/Shanghai midnight, never UTC midnight
    # (SPEC.md, Zammad #5865).
    monday = _monday(now.astimezone(SHANGHAI).date())
    return _midnight(monday), _midnight(monday + timedelta(days=7))


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _midnight(day: date) -> datetime:
    # Days are cut where the nightly report cuts them: one definition.
    return local_day_bounds(day)[0]


class OverviewFigures(NamedTuple):
    open: int
    due_soon: int
    overdue: int
    replied_in_time_week: int
    escalated_week: int
    week_start: datetime
    week_end: datetime
    # The latest complete nightly report (its day and dispute-refund rate), if any.
    latest_report: ReportDay | None


class DayCount(NamedTuple):
    day: date
    received: int
    escalated: int
    replied_in_time: int


class StoreOverview(NamedTuple):
    figures: OverviewFigures
    days: list[DayCount]  # the chart's days, oldest first, today last


def store_overview(*, store: Store, now: datetime, days: int = CHART_DAYS) -> StoreOverview:
    """Today's and this week's figures and the last ``days`` Asia/Shanghai days (today
    included) for one store, in three queries whatever its size.

    A past day comes from its nightly report when the report is complete
    (``report_is_complete``); the days from the first one without such a report to now
    (normally today alone) are counted live, so the cost follows the days not reported
    yet, not the store's history.
    """
    today = now.astimezone(SHANGHAI).date()
    monday = _monday(today)
    first = min(today - timedelta(days=days - 1), monday)
    window = [first + timedelta(days=i) for i in range((today - first).days + 1)]

    reports = store_complete_reports(store=store, first=first, today=today)
    live_first = next(day for day in window if day not in reports.days)  # today at the latest
    live = _live_counts(
        store=store,
        start=_midnight(live_first),
        end=_midnight(today + timedelta(days=1)),
        # Replied-in-time shows for this week only.
        replies_start=_midnight(max(live_first, monday)),
    )
    counts = []
    for day in window:
        report = reports.days.get(day)
        if report is not None:
            counts.append(DayCount(day, report.received, report.escalated, report.replied_in_time))
        else:
            counts.append(
                DayCount(
                    day,
                    live.get((RECEIVED, day), 0),
                    live.get((ESCALATED, day), 0),
                    live.get((REPLIED_IN_TIME, day), 0),
                )
            )
    this_week = [c for c in counts if c.day >= monday]
    figures = OverviewFigures(
        **store_open_counts(store=store, now=now),
        replied_in_time_week=sum(c.replied_in_time for c in this_week),
        escalated_week=sum(c.escalated for c in this_week),
        week_start=_midnight(monday),
        week_end=_midnight(monday + timedelta(days=7)),
        latest_report=reports.latest,
    )
    return StoreOverview(figures, counts[-days:])


def store_open_counts(*, store: Store, now: datetime) -> dict[str, int]:
    """The store's open tickets: all, due within ``DUE_SOON``, past due. One query, an
    index-only range read of (store, state, due_at): it counts due_at (never empty), as
    counting the pk would fetch every row from the table."""
    return Ticket.objects.filter(store=store, state=TicketState.OPEN).aggregate(
        open=Count("due_at"),
        due_soon=Count("due_at", filter=Q(due_at__gte=now, due_at__lte=now + DUE_SOON)),
        overdue=Count("due_at", filter=Q(due_at__lt=now)),
    )


RECEIVED, ESCALATED, REPLIED_IN_TIME = "received", "escalated", "replied_in_time"


def _live_counts(
    *, store: Store, start: datetime, end: datetime, replies_start: datetime
) -> dict[tuple[str, date], int]:
    """The nightly report's received, escalated and replied-in-time figures counted from
    the tickets and replies themselves, per Asia/Shanghai day in [start, end): one query
    (three grouped reads, UNION ALL), each a range read of a time index."""
    tickets = Ticket.objects.filter(store=store)
    last_day = (end - timedelta(days=1)).astimezone(SHANGHAI).date()

    def per_day(queryset: QuerySet, field: str, figure: str, since: datetime) -> QuerySet:
        # One day (the usual case: only today is not reported yet) needs no per-row
        # conversion to a local date.
        if since.astimezone(SHANGHAI).date() == last_day:
            day = Value(last_day, output_field=DateField())
        else:
            day = TruncDate(field, tzinfo=SHANGHAI)
        return (
            queryset.annotate(figure=Value(figure), day=day)
            .values("figure", "day")
            .annotate(n=Count("*"))
            .values_list("figure", "day", "n")
            .order_by()
        )

    received = per_day(
        # due_at ≥ created_at (the ticket_due_after_created constraint), so the bound on
        # due_at adds nothing but lets the planner intersect the created_at index with
        # the store's (store, state, due_at) range instead of visiting every store's
        # tickets of the day; listing every state keeps that range read to one per state.
        tickets.filter(
            created_at__gte=start,
            created_at__lt=end,
            state__in=TicketState.values,
            due_at__gte=start,
        ),
        "created_at",
        RECEIVED,
        start,
    )
    escalated = per_day(
        tickets.filter(escalated_at__gte=start, escalated_at__lt=end),
        "escalated_at",
        ESCALATED,
        start,
    )
    # From the replies of the range (replied_at index) to their tickets, as the nightly
    # report counts them: one reply per ticket, no later than its deadline. A reply in
    # time is due no earlier than the range starts: the same bound on the store's tickets
    # keeps the planner from reading all of them to join.
    replied_in_time = per_day(
        Reply.objects.filter(
            replied_at__gte=replies_start,
            replied_at__lt=end,
            replied_at__lte=F("ticket__due_at"),
            ticket__store=store,
            ticket__state__in=TicketState.values,
            ticket__due_at__gte=replies_start,
        ),
        "replied_at",
        REPLIED_IN_TIME,
        replies_start,
    )
    rows = received.union(escalated, replied_in_time, all=True)
    return {(figure, day): n for figure, day, n in rows}


# --- team -------------------------------------------------------------------------------


def team_members(*, store: Store) -> list[Membership]:
    """The store's members with their users, owners first, then by username."""
    owners_first = Case(When(role=Membership.Role.OWNER, then=Value(0)), default=Value(1))
    return list(
        store.memberships.select_related("user").order_by(owners_first, "user__username", "pk")
    )


def store_reply_templates(*, store: Store) -> list[ReplyTemplate]:
    return list(ReplyTemplate.objects.filter(store=store).order_by("title", "pk"))

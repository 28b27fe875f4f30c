"""The store overview reads complete nightly day reports and counts live only the rest.

A day's report row is used when the day is over and the row was computed after it
ended; today, days without a row and rows computed early are counted from the tickets.
"""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arbitration.models import StoreDayReport
from arbitration.report_selectors import report_is_complete, store_complete_reports
from merchants.models import Membership
from tests.factories import MembershipFactory, StoreFactory
from tests.tickets.test_dashboard_pages import NOW, figure, html, local, opened, replied
from tickets.dashboard_selectors import store_overview
from tickets.services.lifecycle import ticket_escalate

pytestmark = pytest.mark.django_db

# NOW is Thursday 2026-11-26 10:00 Asia/Shanghai: the chart runs from 10-28 to 11-26 and
# the week from Monday 11-23.
TODAY = date(2026, 11, 26)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def store(owner):
    return owner.store


@pytest.fixture
def owner(client):
    membership = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(membership.user)
    return membership


def report(store, day: date, *, computed_at: datetime | None = None, **figures):
    """A day report as the nightly batch writes it: by default at 02:00 the next day."""
    if computed_at is None:
        computed_at = local(day.month, day.day, 2) + timedelta(days=1)
    return StoreDayReport.objects.create(store=store, day=day, computed_at=computed_at, **figures)


def chart_rows(body: str) -> dict[str, tuple[int, int]]:
    """The table under the chart: day → (received, escalated)."""
    return {
        day: (int(r), int(e))
        for day, r, e in re.findall(
            r'<tr data-day="([\d-]+)"><th scope="row">.*?</th><td>(\d+)</td><td>(\d+)</td>', body
        )
    }


def chart_totals(body: str) -> tuple[int, int]:
    match = re.search(
        r'<tfoot><tr><th scope="row">[^<]*</th><td>(\d+)</td><td>(\d+)</td></tr></tfoot>', body
    )
    return int(match.group(1)), int(match.group(2))


def page(client) -> str:
    return html(client.get(reverse("overview")))


# --- which days come from the reports ---------------------------------------------------


def test_a_complete_row_of_a_past_day_is_used(client, store):
    # given: a row for a day without a single ticket
    report(store, date(2026, 11, 20), received=7, escalated=2)

    body = page(client)

    rows = chart_rows(body)
    assert rows["2026-11-20"] == (7, 2)
    assert chart_totals(body) == (7, 2)
    assert "In total 7 received and 2 escalated." in body


def test_a_row_computed_before_its_day_ended_is_ignored_and_the_day_counted_live(client, store):
    # given: a manual run at 23:00 on Wednesday, before the day was over
    report(store, date(2026, 11, 25), received=7, computed_at=local(11, 25, 23))
    opened(store, "LATE", at=local(11, 25, 23, 30))

    rows = chart_rows(page(client))

    assert rows["2026-11-25"] == (1, 0)


def test_today_is_always_counted_live(client, store):
    # given: a row for today, even one stamped after today's end
    report(store, TODAY, received=9, escalated=9, computed_at=local(11, 27, 2))
    opened(store, "A", at=local(11, 26, 9))

    body = page(client)

    assert chart_rows(body)["2026-11-26"] == (1, 0)
    assert chart_totals(body) == (1, 0)


def test_days_without_a_row_are_counted_live_and_rows_still_win_after_them(client, store):
    # given: every past day of the chart reported except Sunday 11-22
    first = TODAY - timedelta(days=29)
    for i in range(29):
        day = first + timedelta(days=i)
        if day != date(2026, 11, 22):
            report(store, day, received=5 if day == date(2026, 11, 24) else 0)
    opened(store, "SUN", at=local(11, 22, 10))
    # A ticket of Tuesday, whose row says 5: the row stands, not the live count of 1.
    opened(store, "TUE", at=local(11, 24, 10))
    opened(store, "TODAY", at=local(11, 26, 8))

    body = page(client)

    rows = chart_rows(body)
    assert rows["2026-11-22"] == (1, 0)
    assert rows["2026-11-24"] == (5, 0)
    assert rows["2026-11-26"] == (1, 0)
    assert chart_totals(body) == (7, 0)


def test_the_week_adds_complete_rows_and_live_counts(client, store):
    user = store.memberships.get().user
    # Last Sunday is not this week.
    report(store, date(2026, 11, 22), replied_in_time=100, escalated=100)
    # Monday and Tuesday reported; a reply in time on Monday is in its row already.
    report(store, date(2026, 11, 23), replied_in_time=4, escalated=3)
    report(store, date(2026, 11, 24), replied_in_time=2, escalated=1)
    replied(opened(store, "MON", at=local(11, 23, 9)), user, at=local(11, 23, 10))
    # Wednesday's row was computed early: Wednesday is counted live. One reply in time,
    # then a consumer who disagrees escalates at once (replied in time and escalated).
    report(
        store, date(2026, 11, 25), replied_in_time=50, escalated=50, computed_at=local(11, 25, 23)
    )
    replied(opened(store, "WED", at=local(11, 25, 9)), user, at=local(11, 25, 10))
    replied(
        opened(store, "WED2", at=local(11, 25, 11)),
        user,
        at=local(11, 25, 12),
        code="disagrees",
    )
    # Today: one reply in time; one timed-out escalation (no reply).
    replied(opened(store, "THU", at=local(11, 26, 8)), user, at=local(11, 26, 9))
    late = opened(store, "OUT", at=local(11, 25, 9, 30))
    ticket_escalate(ticket=late, user=None, now=late.due_at)
    # Another store's reply and escalation today count nowhere.
    other = StoreFactory()
    gone = opened(other, "X", at=local(11, 25, 9))
    ticket_escalate(ticket=gone, user=None, now=gone.due_at)

    body = page(client)

    assert figure(body, "replied_in_time_week") == str(4 + 2 + 2 + 1)
    assert figure(body, "escalated_week") == str(3 + 1 + 1 + 1)
    rows = chart_rows(body)
    assert rows["2026-11-23"] == (0, 3)  # the row's figures, not the live ticket
    assert rows["2026-11-25"] == (3, 1)  # WED, WED2, OUT received; WED2 escalated
    assert rows["2026-11-26"] == (1, 1)  # THU received; OUT escalated


def test_the_chart_and_the_week_agree_with_the_live_counts_when_the_rows_do(store):
    # given: tickets on Monday and a row that says exactly what they are
    user = store.memberships.get().user
    for n in range(3):
        replied(opened(store, f"M{n}", at=local(11, 23, 9 + n)), user, at=local(11, 23, 15))
    live = store_overview(store=store, now=NOW)
    report(store, date(2026, 11, 23), received=3, replied_in_time=3)

    reported = store_overview(store=store, now=NOW)

    assert reported.days == live.days
    assert reported.figures._replace(latest_report=None) == live.figures
    assert reported.figures.latest_report.day == date(2026, 11, 23)
    assert live.figures.replied_in_time_week == 3


# --- the dispute-refund rate ------------------------------------------------------------


def test_the_dispute_rate_is_the_latest_complete_rows(client, store):
    report(store, date(2026, 11, 23), dispute_rate=Decimal("1.2000"))
    report(store, date(2026, 11, 24), dispute_rate=Decimal("0.4667"))
    # Computed before Wednesday ended: not the latest complete row.
    report(store, date(2026, 11, 25), dispute_rate=Decimal("9.9"), computed_at=local(11, 25, 23))

    body = page(client)

    assert figure(body, "dispute_refund_rate") == "0.47%"
    assert "The 30 days to 2026-11-24, from the nightly report." in body
    assert "Appears once the nightly reports exist." not in body


def test_the_dispute_rate_of_a_day_without_paid_orders_says_so(client, store):
    report(store, date(2026, 11, 25), dispute_rate=None)

    body = page(client)

    assert figure(body, "dispute_refund_rate") == "—"
    assert "No paid orders in the 30 days to 2026-11-25." in body
    assert "Appears once the nightly reports exist." not in body


def test_the_dispute_rate_comes_from_a_row_older_than_the_chart(client, store):
    # given: the batch has not run for six weeks
    report(store, date(2026, 10, 10), dispute_rate=Decimal("2.5"))

    body = page(client)

    assert figure(body, "dispute_refund_rate") == "2.50%"
    assert "The 30 days to 2026-10-10, from the nightly report." in body
    assert chart_totals(body) == (0, 0)


def test_another_stores_rows_count_nowhere(client, store):
    report(StoreFactory(), date(2026, 11, 24), received=8, dispute_rate=Decimal("3"))

    body = page(client)

    assert chart_totals(body) == (0, 0)
    assert "Appears once the nightly reports exist." in body


# --- the rule and the reader ------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "computed_at", "complete"),
    [
        (date(2026, 11, 25), local(11, 26, 0), True),  # at the day's end (local midnight)
        (date(2026, 11, 25), local(11, 25, 23, 59), False),  # a minute early
        (date(2026, 11, 25), local(11, 26, 2), True),
        # UTC midnight is 08:00 in Shanghai: the day is cut at local midnight.
        (date(2026, 11, 25), local(11, 25, 8), False),
        (TODAY, local(11, 27, 2), False),  # today is never complete
    ],
)
def test_report_is_complete(day, computed_at, complete):
    assert report_is_complete(day=day, computed_at=computed_at, today=TODAY) is complete


def test_store_complete_reports_keeps_the_window_and_the_latest(store):
    report(store, date(2026, 10, 1), dispute_rate=Decimal("1"))
    report(store, date(2026, 11, 20), received=4)
    report(store, date(2026, 11, 25), received=6, computed_at=local(11, 25, 23))  # early

    reports = store_complete_reports(store=store, first=date(2026, 10, 28), today=TODAY)

    assert list(reports.days) == [date(2026, 11, 20)]
    assert reports.days[date(2026, 11, 20)].received == 4
    assert reports.latest.day == date(2026, 11, 20)


# --- a fixed number of queries ----------------------------------------------------------


def test_query_count_is_the_same_whatever_the_rows(client, store, django_assert_max_num_queries):
    with CaptureQueriesContext(connection) as none:
        client.get(reverse("overview"))
    # every past day reported, one early, one missing, and tickets live today
    first = TODAY - timedelta(days=29)
    for i in range(29):
        day = first + timedelta(days=i)
        if day == date(2026, 11, 10):
            continue
        early = local(day.month, day.day, 12) if day == date(2026, 11, 20) else None
        report(store, day, received=i, computed_at=early, dispute_rate=Decimal("0.5"))
    for n in range(5):
        opened(store, f"Q{n}", at=NOW - timedelta(hours=n + 1))

    # session, user, memberships+store, report rows, live counts, open counts, bell
    with django_assert_max_num_queries(len(none.captured_queries)):
        body = page(client)
    assert len(none.captured_queries) <= 7
    assert figure(body, "dispute_refund_rate") == "0.50%"

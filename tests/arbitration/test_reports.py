"""The nightly store reports against a small data set whose figures are worked out by hand.

Day D = Tuesday 2026-11-24, Asia/Shanghai. Days are cut at local midnight.
"""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arbitration import reports as reports_module
from arbitration.models import Judgment, StoreDayReport, Violation
from arbitration.reports import percentile_cont, report_day
from arbitration.tasks import nightly_reports
from merchants.models import DailyOrderVolume
from tests.factories import StoreFactory, TicketFactory, UserFactory, make_evidence
from tickets.models import Reply, ReplyOption
from tickets.services.lifecycle import ticket_escalate

pytestmark = pytest.mark.django_db

D = date(2026, 11, 24)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """Asia/Shanghai wall time as an aware UTC instant."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def replied(ticket, at):
    option = ReplyOption.objects.get(platform=ticket.store.platform, code="settled")
    Reply.objects.create(
        ticket=ticket, option=option, settles=True, replied_by=UserFactory(), replied_at=at
    )


def judged(ticket, at, liable=True):
    Judgment.objects.create(
        ticket=ticket,
        merchant_liable=liable,
        refund_amount=Decimal("50.00"),
        reasoning="x",
        judged_by=UserFactory(),
        judged_at=at,
    )


@pytest.fixture
def data():
    a = StoreFactory(code="A-TAOBAO")
    # Received on D: t1, t2, t3 and t5 (23:30 local). t6 at 00:30 on D+1 is the next
    # day locally although its UTC date is D.
    t1 = TicketFactory(store=a, created_at=local(D, 9))
    t2 = TicketFactory(store=a, created_at=local(D, 11))
    t3 = TicketFactory(store=a, created_at=local(D, 12))
    TicketFactory(store=a, created_at=local(D, 23, 30))
    TicketFactory(store=a, created_at=local(D + timedelta(days=1), 0, 30))
    # Replies after 1 h, 2 h and 6 h: median 7,200 s; p90 at rank 1.8 →
    # 7,200 + 0.8 × (21,600 − 7,200) = 18,720 s.
    replied(t1, local(D, 10))
    replied(t2, local(D, 13))
    replied(t3, local(D, 18))
    # t4 opened Monday 20:00, unanswered, escalated at its deadline Tuesday 20:00.
    t4 = TicketFactory(store=a, created_at=local(D - timedelta(days=1), 20))
    ticket_escalate(ticket=t4, user=None, now=t4.due_at)
    # Judgments: liable on D and D−29 (in the 30-day window), liable on D−30 (outside),
    # not liable on D−10. Liable in the window: 2.
    for days_ago, liable in [(0, True), (29, True), (30, True), (10, False)]:
        judged(
            TicketFactory(store=a, created_at=local(D - timedelta(days=40), 9)),
            local(D - timedelta(days=days_ago), 15),
            liable,
        )
    # Paid orders: 100 a day for D−29..D = 3,000; D−30 (999) is outside the window.
    DailyOrderVolume.objects.bulk_create(
        DailyOrderVolume(store=a, date=D - timedelta(days=n), paid_orders=999 if n == 30 else 100)
        for n in range(31)
    )
    # Forged evidence found on D: 12 points.
    Violation.objects.create(
        store=a,
        ticket=t1,
        evidence=make_evidence(t1),
        kind="forged_evidence",
        severity="general",
        points=12,
        found_by=UserFactory(),
        found_at=local(D, 16),
    )

    jd = StoreFactory(jd=True, code="B-JD")
    # Six JD tickets opened Monday 09:00–14:00 time out on D at their 24 h deadlines:
    # ordinals 1–6 under the seeded rules → warning, warning, 2, 2, 2 points, then a
    # 500.00 fine: 6 points, 500.00 CNY.
    for hour in range(9, 15):
        ticket = TicketFactory(store=jd, created_at=local(D - timedelta(days=1), hour))
        ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)

    quiet = StoreFactory(platform="tmall", code="C-QUIET")
    StoreFactory(code="D-INACTIVE", is_active=False)
    return {"a": a, "jd": jd, "quiet": quiet}


def rows():
    return {r.store.code: r for r in StoreDayReport.objects.select_related("store").filter(day=D)}


def test_every_figure_of_a_day(data):
    assert report_day(day=D) == 3
    reports = rows()
    assert set(reports) == {"A-TAOBAO", "B-JD", "C-QUIET"}
    a = reports["A-TAOBAO"]
    assert (a.received, a.replied_in_time, a.replied_late) == (4, 3, 0)
    assert (a.escalated, a.timed_out) == (1, 1)
    assert (a.judged_liable, a.judged_not_liable, a.compensated) == (1, 0, 0)
    assert (a.median_reply_seconds, a.p90_reply_seconds) == (7200, 18720)
    assert (a.violation_points, a.fines) == (12, Decimal("0.00"))
    # 2 liable ÷ 3,000 paid orders × 100 = 0.0667 %
    assert (a.liable_30d, a.paid_orders_30d, a.dispute_rate) == (2, 3000, Decimal("0.0667"))

    jd = reports["B-JD"]
    assert (jd.received, jd.escalated, jd.timed_out) == (0, 6, 6)
    assert (jd.violation_points, jd.fines) == (6, Decimal("500.00"))

    quiet = reports["C-QUIET"]
    assert (quiet.received, quiet.escalated, quiet.dispute_rate) == (0, 0, None)


def test_rerunning_a_day_replaces_it(data):
    report_day(day=D)
    first = {code: (r.received, r.fines, r.violation_points) for code, r in rows().items()}
    report_day(day=D)
    assert StoreDayReport.objects.filter(day=D).count() == 3
    assert {code: (r.received, r.fines, r.violation_points) for code, r in rows().items()} == first


def test_percentile_matches_postgres_interpolation():
    assert percentile_cont([3600, 7200, 21600], 0.5) == 7200
    assert percentile_cont([3600, 7200, 21600], 0.9) == pytest.approx(18720)
    assert percentile_cont([10], 0.9) == 10


def test_report_query_count_does_not_grow_with_tickets(django_assert_max_num_queries):
    store = StoreFactory()

    def tickets(n):
        for i in range(n):
            t = TicketFactory(store=store, created_at=local(D, 9) + timedelta(minutes=i))
            replied(t, local(D, 12) + timedelta(minutes=i))

    tickets(3)
    with CaptureQueriesContext(connection) as few:
        report_day(day=D)
    tickets(12)
    with django_assert_max_num_queries(len(few.captured_queries)):
        report_day(day=D)


def test_nightly_task_reports_yesterday_in_shanghai(data):
    # 02:00 on Wednesday in Shanghai is still Tuesday in UTC (18:00); yesterday is Tuesday.
    with time_machine.travel(local(D + timedelta(days=1), 2), tick=False):
        assert nightly_reports.delay().get() == 3
    assert rows()["A-TAOBAO"].received == 4


def test_beat_runs_the_reports_at_two_in_the_morning(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["nightly-reports"]
    assert entry["task"] == "arbitration.tasks.nightly_reports"
    assert entry["schedule"].hour == {2} and entry["schedule"].minute == {0}
    assert settings.CELERY_TIMEZONE == "Asia/Shanghai"


def test_backfill_command_prints_plain_lines_and_a_summary(data):
    out = io.StringIO()
    call_command("nightly_report", "--date", "2026-11-23", "--to", "2026-11-24", stdout=out)
    text = out.getvalue()
    assert "2026-11-23: done" in text and "2026-11-24: done" in text
    assert "2 day(s)" in text and "6 store rows" in text
    assert StoreDayReport.objects.filter(day=D - timedelta(days=1)).count() == 3


@pytest.mark.parametrize(
    "args",
    [["--date", "24/11/2026"], ["--date", "2026-11-24", "--to", "2026-11-01"]],
)
def test_backfill_command_refuses_bad_dates(args):
    with pytest.raises(CommandError):
        call_command("nightly_report", *args, stdout=io.StringIO())
    assert not StoreDayReport.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_runs_of_one_day_at_once_do_not_double_it():
    from tests.concurrency import run_together

    stores = StoreFactory.create_batch(5)
    for store in stores:
        TicketFactory(store=store, created_at=local(D, 10))
    results = run_together(lambda: report_day(day=D), lambda: report_day(day=D))
    assert results == [5, 5], results
    assert StoreDayReport.objects.filter(day=D).count() == 5
    assert sum(StoreDayReport.objects.filter(day=D).values_list("received", flat=True)) == 5


def test_monthly_settlement_task_closes_last_month_in_shanghai():
    from arbitration.models import SettlementStatement
    from arbitration.tasks import monthly_settlement

    StoreFactory(jd=True, code="JD-S")
    StoreFactory(code="TB-S")  # not JD: no statement
    # 03:00 on 1 December in Shanghai is still 30 November in UTC: the month closed is November.
    with time_machine.travel(local(date(2026, 12, 1), 3), tick=False):
        assert monthly_settlement.delay().get() == 1
    statement = SettlementStatement.objects.get()
    assert (statement.store.code, statement.month) == ("JD-S", date(2026, 11, 1))


@pytest.mark.postgres
def test_the_report_uses_parallel_workers_the_app_turns_off(monkeypatch):
    # given the app's connection, which starts with parallel workers off
    def setting():
        with connection.cursor() as cursor:
            cursor.execute("SHOW max_parallel_workers_per_gather")
            return cursor.fetchone()[0]

    assert setting() == "0"
    seen = []
    figures = reports_module._figures

    def spy(**kwargs):
        seen.append(setting())
        return figures(**kwargs)

    monkeypatch.setattr(reports_module, "_figures", spy)
    # when a day is reported
    report_day(day=date(2026, 11, 20))
    # then its aggregates ran with the batch's workers
    assert seen == [str(reports_module.REPORT_PARALLEL_WORKERS)]

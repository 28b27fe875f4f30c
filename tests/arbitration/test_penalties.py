"""JD ops consequences: the penalty ledger and the monthly settlement, against figures
worked out by hand in the comments.

Months are Asia/Shanghai calendar months. Seeded rules (migration 0005): the 1st and 2nd
timeout of a store in a month → warning; 3rd to 5th → 2 points; 6th on → 500.00 CNY.
Closure: 48 points in 365 days.
"""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.apps import apps as global_apps
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arbitration.models import (
    PenaltyEntry,
    PenaltyPolicy,
    PenaltyRule,
    SettlementStatement,
    Violation,
)
from arbitration.penalties import (
    month_bounds,
    month_of,
    parse_month,
    penalties_apply,
    settlement_close_month,
)
from merchants.models import DailyOrderVolume, Store
from tests.concurrency import run_together
from tests.factories import (
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    UserFactory,
    staff_user,
)
from tickets.models import ReplyOption
from tickets.services.contacts import contact_log
from tickets.services.lifecycle import ticket_escalate, ticket_reply
from tickets.services.sweeps import sweep_run

pytestmark = pytest.mark.django_db

NOV = date(2026, 11, 1)
DEC = date(2026, 12, 1)
# Closing November happens after it is over: 2026-12-01 09:00 local.
AFTER_NOV = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Asia/Shanghai wall time (UTC+8, no DST) as an aware UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def timed_out(store: Store, at: datetime, **kwargs):
    """A JD normal ticket (24 calendar hours) left unanswered and escalated at its
    deadline ``at``: a timeout whose instant is ``at``."""
    ticket = TicketFactory(store=store, created_at=at - timedelta(hours=24), **kwargs)
    assert ticket.due_at == at
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


def replied(ticket, at, code="settled"):
    """The store's reply through the service (a "not settled" one escalates at once)."""
    member = MembershipFactory(store=ticket.store)
    contact_log(ticket=ticket, user=member.user, channel="phone", attempted_at=at, now=at)
    ticket_reply(
        ticket=ticket,
        user=member.user,
        option=ReplyOption.objects.get(platform=ticket.store.platform, code=code),
        agreed_at=at if code == "settled" else None,
        now=at,
    )


def ledger(store) -> list[tuple]:
    return list(
        PenaltyEntry.objects.filter(store=store)
        .order_by("occurred_at", "pk")
        .values_list("month", "ordinal", "action", "points", "amount")
    )


def apply_month(month: date = NOV) -> int:
    start, end = month_bounds(month)
    return penalties_apply(start=start, end=end)


W, P, F = "warning", "points", "fine"
NIL, FINE = Decimal("0.00"), Decimal("500.00")


# --- months ------------------------------------------------------------------------------


def test_months_are_cut_at_shanghai_midnight():
    # 2026-11-30 23:30 local = 15:30 UTC; 2026-12-01 00:30 local = 2026-11-30 16:30 UTC:
    # the same UTC date, different local months.
    assert month_of(local(2026, 11, 30, 23, 30)) == NOV
    assert month_of(local(2026, 12, 1, 0, 30)) == DEC
    assert local(2026, 12, 1, 0, 30).date() == date(2026, 11, 30)
    assert month_bounds(NOV) == (local(2026, 11, 1), local(2026, 12, 1))
    assert month_bounds(date(2026, 12, 1))[1] == local(2027, 1, 1)


@pytest.mark.parametrize("value", ["2026-13", "2026-00", "2026/11", "26-11", "2026-1", "", "x"])
def test_parse_month_refuses_anything_but_yyyy_mm(value):
    with pytest.raises(ValueError):
        parse_month(value)


def test_parse_month():
    assert parse_month(" 2026-11 ") == NOV


# --- the ledger --------------------------------------------------------------------------


def test_seven_timeouts_in_a_month_follow_the_rules_in_order():
    # given: seven timeouts of one JD store in November, opened out of order
    store = StoreFactory(jd=True)
    days = [9, 2, 14, 5, 30, 20, 1]
    tickets = {day: timed_out(store, local(2026, 11, day, 10)) for day in days}

    # when
    assert apply_month() == 7

    # then: ordinals by timeout instant. 1–2 warning; 3, 4, 5: 2 points each (6 points);
    # 6, 7: 500.00 each (1,000.00).
    assert ledger(store) == [
        (NOV, 1, W, 0, NIL),
        (NOV, 2, W, 0, NIL),
        (NOV, 3, P, 2, NIL),
        (NOV, 4, P, 2, NIL),
        (NOV, 5, P, 2, NIL),
        (NOV, 6, F, 0, FINE),
        (NOV, 7, F, 0, FINE),
    ]
    entries = {e.ticket_id: e for e in PenaltyEntry.objects.all()}
    # Sorted days 1, 2, 5, 9, 14, 20, 30: the 30th is the 7th, the 1st is the 1st.
    assert entries[tickets[30].pk].ordinal == 7
    assert entries[tickets[1].pk].ordinal == 1
    assert entries[tickets[14].pk].occurred_at == local(2026, 11, 14, 10)
    assert entries[tickets[14].pk].rule == PenaltyRule.objects.get(platform="jd", from_count=3)


def test_daily_runs_continue_the_months_ordinals():
    # given: the same seven timeouts, applied one local day at a time as the nightly
    # batch does (days cut at local midnight)
    store = StoreFactory(jd=True)
    for day in [1, 2, 5, 9, 14, 20, 30]:
        timed_out(store, local(2026, 11, day, 23, 30))  # late evening: UTC is 15:30
    # when
    created = [
        penalties_apply(start=local(2026, 11, day), end=local(2026, 11, day) + timedelta(days=1))
        for day in range(1, 31)
    ]
    # then: one a day on the seven days; the same ledger as one run for the month
    assert sum(created) == 7
    assert [action for _m, _n, action, _p, _a in ledger(store)] == [W, W, P, P, P, F, F]
    assert [n for _m, n, *_ in ledger(store)] == [1, 2, 3, 4, 5, 6, 7]


def test_the_month_boundary_is_shanghai_midnight():
    # given: five November timeouts, the last at 23:30 on the 30th local (15:30 UTC), and
    # one at 00:30 on 1 December local (still 30 November in UTC)
    store = StoreFactory(jd=True)
    for day in [3, 4, 5, 6]:
        timed_out(store, local(2026, 11, day, 12))
    timed_out(store, local(2026, 11, 30, 23, 30))
    timed_out(store, local(2026, 12, 1, 0, 30))
    # when: one window over both
    assert penalties_apply(start=local(2026, 11, 1), end=local(2026, 12, 2)) == 6
    # then: the 23:30 one is November's 5th (2 points); the 00:30 one is December's 1st
    # (a warning), not November's 6th (which would be a 500.00 fine).
    assert ledger(store) == [
        (NOV, 1, W, 0, NIL),
        (NOV, 2, W, 0, NIL),
        (NOV, 3, P, 2, NIL),
        (NOV, 4, P, 2, NIL),
        (NOV, 5, P, 2, NIL),
        (DEC, 1, W, 0, NIL),
    ]


def test_apply_twice_and_overlapping_windows_write_each_entry_once():
    # given: four timeouts on 5, 12, 19 and 26 November
    store = StoreFactory(jd=True)
    for day in [5, 12, 19, 26]:
        timed_out(store, local(2026, 11, day, 10))
    # when: [1 Nov, 20 Nov) takes the 5th, 12th, 19th; [10 Nov, 1 Dec) overlaps it and
    # only adds the 26th; the month again adds nothing
    assert penalties_apply(start=local(2026, 11, 1), end=local(2026, 11, 20)) == 3
    assert penalties_apply(start=local(2026, 11, 10), end=local(2026, 12, 1)) == 1
    assert apply_month() == 0
    assert apply_month() == 0
    # then: one entry per ticket, ordinals 1–4 (4th: the points rule, from 3)
    assert ledger(store) == [
        (NOV, 1, W, 0, NIL),
        (NOV, 2, W, 0, NIL),
        (NOV, 3, P, 2, NIL),
        (NOV, 4, P, 2, NIL),
    ]


def test_the_sweep_s_timeouts_are_penalised():
    # given: three JD tickets created 1 Nov 10:00 local, due 2 Nov 10:00, swept at 11:00
    store = StoreFactory(jd=True)
    for _ in range(3):
        TicketFactory(store=store, created_at=local(2026, 11, 1, 10))
    assert sweep_run(now=local(2026, 11, 2, 11)).escalated == 3
    # when
    assert apply_month() == 3
    # then: warning, warning, 2 points, each timed out at the sweep's instant
    assert ledger(store) == [(NOV, 1, W, 0, NIL), (NOV, 2, W, 0, NIL), (NOV, 3, P, 2, NIL)]
    assert set(PenaltyEntry.objects.values_list("occurred_at", flat=True)) == {
        local(2026, 11, 2, 11)
    }


def test_replied_tickets_and_other_platforms_are_never_penalised():
    # given: the only timeout that counts is `counted`
    jd = StoreFactory(jd=True)
    counted = timed_out(jd, local(2026, 11, 10, 10))
    # a JD reply "not settled – consumer disagrees": escalated at once, but answered
    not_settled = TicketFactory(store=jd, created_at=local(2026, 11, 10, 9))
    replied(not_settled, local(2026, 11, 10, 9, 30), code="disagrees")
    # a settled JD reply the consumer objected to: CS escalated it
    objected = TicketFactory(store=jd, created_at=local(2026, 11, 11, 9))
    replied(objected, local(2026, 11, 11, 9, 30))
    ticket_escalate(
        ticket=objected,
        user=staff_user("cs_agent"),
        reason="消费者不认可",
        now=local(2026, 11, 11, 12),
    )
    # an open JD ticket, past due but not escalated yet
    TicketFactory(store=jd, created_at=local(2026, 11, 12, 9))
    # Taobao and Tmall timeouts: JD ops consequences only
    timed_out(StoreFactory(), local(2026, 11, 10, 10))
    timed_out(StoreFactory(platform="tmall"), local(2026, 11, 10, 10))
    not_settled.refresh_from_db()
    objected.refresh_from_db()
    assert not_settled.escalated_at and objected.escalated_at  # escalated, but answered
    # when
    assert apply_month() == 1
    # then
    assert list(PenaltyEntry.objects.values_list("ticket_id", "ordinal")) == [(counted.pk, 1)]


def test_rules_are_ops_data_copied_at_the_time():
    # given: ops retire the fine and make the 3rd timeout cost 3 points
    PenaltyRule.objects.filter(platform="jd", from_count=6).update(is_active=False)
    PenaltyRule.objects.filter(platform="jd", from_count=3).update(points=3)
    store = StoreFactory(jd=True)
    for day in range(1, 8):
        timed_out(store, local(2026, 11, day, 10))
    # when
    assert apply_month() == 7
    # then: without the 500.00 rule, the 6th and 7th fall back on the points rule (3 each)
    assert ledger(store)[4:] == [(NOV, 5, P, 3, NIL), (NOV, 6, P, 3, NIL), (NOV, 7, P, 3, NIL)]
    # and a later edit does not rewrite the ledger
    PenaltyRule.objects.filter(platform="jd", from_count=3).update(points=9)
    assert sum(points for *_x, points, _a in ledger(store)) == 5 * 3


def test_no_rule_for_the_ordinal_means_no_entry():
    # given: no active JD rule at all
    PenaltyRule.objects.filter(platform="jd").update(is_active=False)
    store = StoreFactory(jd=True)
    timed_out(store, local(2026, 11, 10, 10))
    # when / then: nothing written, and nothing fails
    assert apply_month() == 0
    assert not PenaltyEntry.objects.exists()


def test_naive_instants_are_refused():
    with pytest.raises(ValueError):
        penalties_apply(start=datetime(2026, 11, 1), end=datetime(2026, 12, 1))


def _timeouts(n: int) -> None:
    # Spread over two JD stores and two months, so grouping by store-month is exercised.
    stores = [StoreFactory(jd=True), StoreFactory(jd=True)]
    for index in range(n):
        at = local(2026, 11 + index % 2, 1 + index // 2, 10)
        timed_out(stores[index // 2 % 2], at)


@pytest.mark.parametrize("n", [8, 16])
def test_apply_runs_a_fixed_number_of_queries(n, django_assert_max_num_queries):
    # Expected queries: [PostgreSQL: the ledger's advisory lock], SAVEPOINT, the active
    # rules, the candidates, the entries so far per store-month, one INSERT, RELEASE.
    _timeouts(n)
    # a month's entries already there, so the counting query has rows to return
    timed_out(StoreFactory(jd=True), local(2026, 11, 28, 10))
    penalties_apply(start=local(2026, 11, 28), end=local(2026, 11, 29))
    expected = 7 if connection.vendor == "postgresql" else 6
    with django_assert_max_num_queries(expected):
        written = penalties_apply(start=local(2026, 11, 1), end=local(2027, 1, 1))
    assert written == n


def test_apply_query_count_does_not_grow_with_rows():
    # Saleor's way: N and 2N rows, the same count.
    counts = []
    for n in (6, 12):
        PenaltyEntry.objects.all().delete()
        _timeouts(n)
        with CaptureQueriesContext(connection) as queries:
            penalties_apply(start=local(2026, 11, 1), end=local(2027, 1, 1))
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- the settlement ----------------------------------------------------------------------


def paid(store, day: date, amount: str) -> None:
    DailyOrderVolume.objects.create(
        store=store, date=day, paid_orders=10, paid_amount=Decimal(amount)
    )


def entry(store, at: datetime, *, amount="0.00", points=0) -> PenaltyEntry:
    """A ledger entry as the batch would have written it (for a ticket that is not
    itself a timeout, so the close's own ledger run leaves it alone)."""
    action = F if Decimal(amount) else P
    return PenaltyEntry.objects.create(
        store=store,
        ticket=TicketFactory(store=store, created_at=at - timedelta(days=1)),
        rule=PenaltyRule.objects.get(platform="jd", from_count=6 if action == F else 3),
        action=action,
        points=points,
        amount=Decimal(amount),
        occurred_at=at,
        month=month_of(at),
        ordinal=1,
    )


def violation(store, at: datetime, points: int) -> Violation:
    return Violation.objects.create(
        store=store,
        ticket=TicketFactory(store=store, created_at=at - timedelta(days=1)),
        kind=Violation.Kind.FORGED_EVIDENCE,
        severity="serious" if points == 48 else "general",
        points=points,
        found_by=UserFactory(),
        found_at=at,
    )


def figures(statement: SettlementStatement) -> tuple:
    return (
        statement.payable,
        statement.fines,
        statement.deducted_from_payable,
        statement.deposit_before,
        statement.deducted_from_deposit,
        statement.deposit_after,
        statement.shortfall,
        statement.net_payable,
    )


def D(value: str) -> Decimal:
    return Decimal(value)


@pytest.fixture
def stores():
    # A: fines < payable. Paid 3,000.00 (1 Nov) + 1,234.56 (30 Nov) = 4,234.56; 31 Oct
    # and 1 Dec are other months. Seven November timeouts: two 500.00 fines = 1,000.00.
    a = StoreFactory(jd=True, code="A", deposit=D("2000.00"))
    paid(a, date(2026, 10, 31), "999.99")
    paid(a, date(2026, 11, 1), "3000.00")
    paid(a, date(2026, 11, 30), "1234.56")
    paid(a, date(2026, 12, 1), "888.88")
    for day in range(1, 8):
        timed_out(a, local(2026, 11, day, 10))
    # B: fines > payable, covered by the deposit. Paid 300.00; fines 500.00 + 500.00
    # (an October fine is October's); deposit 1,000.00.
    b = StoreFactory(jd=True, code="B", deposit=D("1000.00"))
    paid(b, date(2026, 11, 15), "300.00")
    entry(b, local(2026, 11, 3, 10), amount="500.00")
    entry(b, local(2026, 11, 30, 23, 59), amount="500.00")
    entry(b, local(2026, 10, 31, 23, 59), amount="500.00")
    # C: fines > payable + deposit. Paid 100.00; fines 3 × 500.00 = 1,500.00; deposit
    # 1,000.00.
    c = StoreFactory(jd=True, code="C", deposit=D("1000.00"))
    paid(c, date(2026, 11, 2), "100.00")
    for day in (4, 5, 6):
        entry(c, local(2026, 11, day, 10), amount="500.00")
    # Q: nothing happened; its deposit stays.
    q = StoreFactory(jd=True, code="Q", deposit=D("5000.00"))
    # A Taobao store gets no statement, whatever its figures.
    t = StoreFactory(code="T-TAOBAO", deposit=D("100.00"))
    paid(t, date(2026, 11, 2), "100.00")
    return {"a": a, "b": b, "c": c, "q": q, "t": t}


def by_code(statements) -> dict[str, SettlementStatement]:
    return {s.store.code: s for s in statements}


def deposits() -> dict[str, Decimal]:
    return dict(Store.objects.values_list("code", "deposit"))


def test_close_month_floor_cases(stores):
    # when
    statements = by_code(settlement_close_month(month=NOV, now=AFTER_NOV))

    # then: one statement per JD store
    assert set(statements) == {"A", "B", "C", "Q"}
    # (payable, fines, from payable, deposit before, from deposit, deposit after,
    #  shortfall, net payable)
    # A: 1,000.00 ≤ 4,234.56, all off the payable: net 4,234.56 − 1,000.00 = 3,234.56.
    assert figures(statements["A"]) == (
        D("4234.56"), D("1000.00"), D("1000.00"),
        D("2000.00"), D("0.00"), D("2000.00"), D("0.00"), D("3234.56"),
    )  # fmt: skip
    # B: 300.00 off the payable, 1,000.00 − 300.00 = 700.00 off the deposit:
    # 1,000.00 − 700.00 = 300.00 left, no shortfall, nothing paid out.
    assert figures(statements["B"]) == (
        D("300.00"), D("1000.00"), D("300.00"),
        D("1000.00"), D("700.00"), D("300.00"), D("0.00"), D("0.00"),
    )  # fmt: skip
    # C: 100.00 off the payable; 1,400.00 left > the 1,000.00 deposit: deposit to 0.00,
    # shortfall 1,400.00 − 1,000.00 = 400.00.
    assert figures(statements["C"]) == (
        D("100.00"), D("1500.00"), D("100.00"),
        D("1000.00"), D("1000.00"), D("0.00"), D("400.00"), D("0.00"),
    )  # fmt: skip
    assert figures(statements["Q"]) == (
        D("0.00"), D("0.00"), D("0.00"),
        D("5000.00"), D("0.00"), D("5000.00"), D("0.00"), D("0.00"),
    )  # fmt: skip
    # the stores' deposits follow deposit_after; the Taobao store's is untouched
    assert deposits() == {
        "A": D("2000.00"),
        "B": D("300.00"),
        "C": D("0.00"),
        "Q": D("5000.00"),
        "T-TAOBAO": D("100.00"),
    }
    assert SettlementStatement.objects.count() == 4
    assert {s.created_at for s in statements.values()} == {AFTER_NOV}
    assert all(s.pk for s in statements.values())


def test_closing_brings_the_ledger_up_to_date(stores):
    # given: the nightly batch has not written A's ledger yet
    assert not PenaltyEntry.objects.filter(store=stores["a"]).exists()
    # when
    settlement_close_month(month=NOV, now=AFTER_NOV)
    # then: the seven timeouts are in it (fines 2 × 500.00, see the floor cases)
    assert PenaltyEntry.objects.filter(store=stores["a"]).count() == 7


def test_reclosing_replaces_and_never_deducts_twice(stores):
    first = by_code(settlement_close_month(month=NOV, now=AFTER_NOV))
    # when: closed again with nothing changed
    again = by_code(settlement_close_month(month=NOV, now=AFTER_NOV + timedelta(days=1)))
    # then: the same figures in new rows; B's deposit is 300.00, not 300.00 − 700.00
    assert {code: figures(s) for code, s in again.items()} == {
        code: figures(s) for code, s in first.items()
    }
    assert SettlementStatement.objects.count() == 4
    assert not SettlementStatement.objects.filter(pk__in=[s.pk for s in first.values()])
    assert deposits()["B"] == D("300.00")
    assert deposits()["C"] == D("0.00")

    # when: a late 200.00 fine for B, then November closed a third time
    entry(stores["b"], local(2026, 11, 20, 10), amount="200.00")
    third = by_code(settlement_close_month(month=NOV, now=AFTER_NOV + timedelta(days=2)))
    # then: B's 700.00 is given back first (deposit before 1,000.00 again); fines
    # 1,200.00 − 300.00 payable = 900.00 off the deposit: 100.00 left.
    assert figures(third["B"]) == (
        D("300.00"), D("1200.00"), D("300.00"),
        D("1000.00"), D("900.00"), D("100.00"), D("0.00"), D("0.00"),
    )  # fmt: skip
    assert deposits()["B"] == D("100.00")


def test_reclosing_keeps_a_top_up_made_since(stores):
    settlement_close_month(month=NOV, now=AFTER_NOV)
    # given: after the close took C's whole 1,000.00 (shortfall 400.00), ops top it up
    Store.objects.filter(code="C").update(deposit=D("2000.00"))
    # when
    c = by_code(settlement_close_month(month=NOV, now=AFTER_NOV))["C"]
    # then: 2,000.00 + the 1,000.00 given back = 3,000.00 before; 1,400.00 off it:
    # 1,600.00 left and no shortfall. (Restoring the old deposit_before, 1,000.00, would
    # have lost the top-up.)
    assert (c.deposit_before, c.deducted_from_deposit, c.deposit_after, c.shortfall) == (
        D("3000.00"),
        D("1400.00"),
        D("1600.00"),
        D("0.00"),
    )
    assert deposits()["C"] == D("1600.00")


def test_a_month_not_over_is_refused_and_nothing_changes(stores):
    before = deposits()
    with pytest.raises(ValidationError) as error:
        settlement_close_month(month=NOV, now=local(2026, 11, 30, 23, 59))
    assert error.value.code == "month_not_over"
    assert not SettlementStatement.objects.exists()
    assert not PenaltyEntry.objects.filter(store=stores["a"]).exists()
    assert deposits() == before


def test_closure_flag_at_the_threshold():
    # Window for November 2026: the 365 days up to its end, [2025-12-01 00:00 local,
    # 2026-12-01 00:00 local).
    at_48 = StoreFactory(jd=True, code="AT-48")
    at_47 = StoreFactory(jd=True, code="AT-47")
    for store, june_points in ((at_48, 6), (at_47, 5)):
        # forged evidence: 3 × 12 = 36, the first at the window's first instant
        violation(store, local(2025, 12, 1, 0, 0), 12)
        violation(store, local(2026, 3, 1, 10), 12)
        violation(store, local(2026, 11, 20, 10), 12)
        # five November timeouts: ordinals 3, 4, 5 give 2 points each = 6
        for day in range(1, 6):
            timed_out(store, local(2026, 11, day, 10))
        # June: 6 points (AT-48) or 5 (a rule ops had set then; AT-47)
        entry(store, local(2026, 6, 15, 10), points=june_points)
        # outside the window: a serious violation a minute before it, points after it
        violation(store, local(2025, 11, 30, 23, 59), 48)
        entry(store, local(2026, 12, 1, 0, 0), points=10)

    statements = by_code(settlement_close_month(month=NOV, now=AFTER_NOV))

    # AT-48: 36 + 6 + 6 = 48 ≥ 48 → flagged; AT-47: 36 + 6 + 5 = 47 → not.
    assert (statements["AT-48"].points_in_window, statements["AT-48"].closure_flag) == (48, True)
    assert (statements["AT-47"].points_in_window, statements["AT-47"].closure_flag) == (47, False)


def test_closure_threshold_and_window_are_ops_data():
    store = StoreFactory(jd=True)
    violation(store, local(2026, 11, 20, 10), 12)
    violation(store, local(2026, 10, 31, 10), 12)
    # a 30-day window ([1 Nov, 1 Dec) local): only the 20 November finding, 12 points
    PenaltyPolicy.objects.filter(platform="jd").update(window_days=30, closure_points=12)
    [statement] = settlement_close_month(month=NOV, now=AFTER_NOV)
    assert (statement.points_in_window, statement.closure_flag) == (12, True)


def test_close_month_runs_a_fixed_number_of_queries():
    # Expected queries: SAVEPOINT; the ledger run (SAVEPOINT, [PostgreSQL: its lock],
    # rules, candidates: none, RELEASE); the JD stores, locked; last close's deductions;
    # payable; fines; the policy; penalty points; violation points; DELETE; INSERT;
    # UPDATE deposits; RELEASE: 16, 17 on PostgreSQL.
    counts = []
    for n in (2, 4):
        for _ in range(n):
            store = StoreFactory(jd=True, deposit=D("1000.00"))
            paid(store, date(2026, 11, 2), "100.00")
            entry(store, local(2026, 11, 3, 10), amount="500.00")
        jd_stores = Store.objects.filter(platform="jd").count()
        with CaptureQueriesContext(connection) as queries:
            statements = settlement_close_month(month=NOV, now=AFTER_NOV)
        assert len(statements) == jd_stores
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[0] == (17 if connection.vendor == "postgresql" else 16)


def test_amounts_are_decimals_to_the_cent():
    store = StoreFactory(jd=True, deposit=D("10.05"))
    paid(store, date(2026, 11, 2), "0.10")
    paid(store, date(2026, 11, 3), "0.20")
    entry(store, local(2026, 11, 3, 10), amount="0.40")
    entry(store, local(2026, 11, 4, 10), amount="0.01")
    [s] = settlement_close_month(month=NOV, now=AFTER_NOV)
    # 0.10 + 0.20 = 0.30 exactly (no float 0.30000000000000004); fines 0.41; 0.30 off
    # the payable, 0.11 off the deposit: 10.05 − 0.11 = 9.94.
    assert figures(s) == (
        D("0.30"),
        D("0.41"),
        D("0.30"),
        D("10.05"),
        D("0.11"),
        D("9.94"),
        D("0.00"),
        D("0.00"),
    )
    assert {value.as_tuple().exponent for value in figures(s)} == {-2}


# --- the seeds ---------------------------------------------------------------------------


def test_seeded_defaults_and_their_reverse():
    from importlib import import_module

    seeds = import_module("arbitration.migrations.0005_seed_penalty_rules")
    assert list(
        PenaltyRule.objects.filter(platform="jd", is_active=True)
        .order_by("from_count")
        .values_list("from_count", "action", "points", "amount")
    ) == [(1, W, 0, NIL), (3, P, 2, NIL), (6, F, 0, FINE)]
    policy = PenaltyPolicy.objects.get(platform="jd")
    assert (policy.closure_points, policy.window_days) == (48, 365)

    seeds.unseed(global_apps, None)
    assert not PenaltyRule.objects.filter(platform="jd").exists()
    assert not PenaltyPolicy.objects.exists()
    seeds.seed(global_apps, None)
    assert PenaltyRule.objects.filter(platform="jd").count() == 3


# --- the command -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2026-13", "2026/11", "November", ""])
def test_command_refuses_a_bad_month(value):
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("close_settlement", "--month", value)
    assert not SettlementStatement.objects.exists()


def test_command_refuses_a_month_not_over():
    with (
        time_machine.travel(local(2026, 11, 15, 10), tick=False),
        pytest.raises(CommandError, match="not over"),
    ):
        call_command("close_settlement", "--month", "2026-11")


def test_command_prints_one_line_per_store(stores):
    out = io.StringIO()
    with time_machine.travel(AFTER_NOV, tick=False):
        call_command("close_settlement", "--month", "2026-11", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:4] == [
        "A: payable 4234.56 fines 1000.00 net payable 3234.56 deposit 2000.00 -> 2000.00 "
        "shortfall 0.00 points 6 closure no",
        "B: payable 300.00 fines 1000.00 net payable 0.00 deposit 1000.00 -> 300.00 "
        "shortfall 0.00 points 0 closure no",
        "C: payable 100.00 fines 1500.00 net payable 0.00 deposit 1000.00 -> 0.00 "
        "shortfall 400.00 points 0 closure no",
        "Q: payable 0.00 fines 0.00 net payable 0.00 deposit 5000.00 -> 5000.00 "
        "shortfall 0.00 points 0 closure no",
    ]
    assert lines[4].endswith("2026-11: 4 JD store statement(s).")


# --- the admin ---------------------------------------------------------------------------

CLOSE_URL = "admin:arbitration_settlementstatement_close_month"


def test_close_a_month_in_the_admin(admin_client, admin_user, stores):
    page = admin_client.get(reverse("admin:arbitration_settlementstatement_changelist"))
    assert reverse(CLOSE_URL).encode() in page.content

    with time_machine.travel(AFTER_NOV, tick=False):
        form = admin_client.get(reverse(CLOSE_URL))
        assert form.status_code == 200
        assert b'value="2026-11"' in form.content  # last month by default
        response = admin_client.post(reverse(CLOSE_URL), {"month": "2026-11"}, follow=True)

    assert response.redirect_chain[-1][0].endswith("?month=2026-11-01")
    assert SettlementStatement.objects.count() == 4
    text = response.content.decode()
    assert "Closed 2026-11: 4 JD store statements (1 with a shortfall" in text
    # C's 400.00 shortfall stands out
    assert '<strong class="shortfall"' in text
    assert "400.00" in text
    assert (
        LogEntry.objects.filter(user=admin_user, action_flag=ADDITION).count() == 4
    )  # one per statement


def test_close_a_month_refusals_leave_nothing_behind(admin_client, stores):
    response = admin_client.post(reverse(CLOSE_URL), {"month": "2026-13"})
    assert response.status_code == 200
    assert "Enter a month as YYYY-MM." in response.content.decode()
    with time_machine.travel(local(2026, 11, 20, 10), tick=False):
        response = admin_client.post(reverse(CLOSE_URL), {"month": "2026-11"})
    assert response.status_code == 200
    assert "is not over yet" in response.content.decode()
    assert not SettlementStatement.objects.exists()
    assert deposits()["C"] == D("1000.00")


def test_close_a_month_needs_the_permission(client):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_settlementstatement"))
    client.force_login(user)
    assert client.get(reverse(CLOSE_URL)).status_code == 403
    assert client.post(reverse(CLOSE_URL), {"month": "2026-11"}).status_code == 403
    page = client.get(reverse("admin:arbitration_settlementstatement_changelist"))
    assert page.status_code == 200
    assert reverse(CLOSE_URL).encode() not in page.content

    user.user_permissions.add(Permission.objects.get(codename="add_settlementstatement"))
    user = type(user).objects.get(pk=user.pk)  # fresh permission cache
    client.force_login(user)
    with time_machine.travel(AFTER_NOV, tick=False):
        response = client.post(reverse(CLOSE_URL), {"month": "2026-11"})
    assert response.status_code == 302


def test_ledger_and_statements_are_read_only(admin_client, stores):
    with time_machine.travel(AFTER_NOV, tick=False):
        admin_client.post(reverse(CLOSE_URL), {"month": "2026-11"})
    entry_ = PenaltyEntry.objects.filter(store=stores["a"]).first()
    statement = SettlementStatement.objects.get(store=stores["c"])
    for name, obj in (("penaltyentry", entry_), ("settlementstatement", statement)):
        assert admin_client.get(reverse(f"admin:arbitration_{name}_add")).status_code == 403
        url = reverse(f"admin:arbitration_{name}_change", args=[obj.pk])
        assert admin_client.post(url, {}).status_code == 403
        delete = reverse(f"admin:arbitration_{name}_delete", args=[obj.pk])
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    ledger_page = admin_client.get(
        reverse("admin:arbitration_penaltyentry_changelist"),
        {"month": "2026-11-01", "action": "fine", "q": entry_.ticket.number},
    )
    assert ledger_page.status_code == 200
    flagged = admin_client.get(
        reverse("admin:arbitration_settlementstatement_changelist"), {"closure_flag__exact": "1"}
    )
    assert flagged.status_code == 200


def test_rules_and_policy_are_editable_in_the_list(admin_client):
    rule = PenaltyRule.objects.get(platform="jd", from_count=6)
    page = admin_client.get(reverse("admin:arbitration_penaltyrule_changelist"))
    assert page.status_code == 200
    assert b'name="form-0-amount"' in page.content
    policy_page = admin_client.get(reverse("admin:arbitration_penaltypolicy_changelist"))
    assert b'name="form-0-closure_points"' in policy_page.content
    admin_client.post(
        reverse("admin:arbitration_penaltyrule_change", args=[rule.pk]),
        {
            "platform": "jd",
            "from_count": 6,
            "action": "fine",
            "points": 0,
            "amount": "800.00",
            "is_active": "on",
        },
    )
    rule.refresh_from_db()
    assert rule.amount == D("800.00")


# --- races (PostgreSQL: real locks) ------------------------------------------------------

# serialized_rollback restores the seeded rules, policies and reply options.
race = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.mark.parametrize("_round", range(3))
@pytest.mark.postgres
@race
def test_racing_ledger_runs_write_each_entry_once_with_distinct_ordinals(_round):
    # given: two stores, six November timeouts each
    stores = [StoreFactory(jd=True), StoreFactory(jd=True)]
    for day in range(1, 7):
        for store in stores:
            timed_out(store, local(2026, 11, day, 10))
    # when: the month and an overlapping window at the same instant
    results = run_together(
        lambda: apply_month(),
        lambda: penalties_apply(start=local(2026, 11, 3), end=local(2026, 12, 1)),
    )
    # then: no error; 12 entries between them; each store's ordinals are 1–6 once. (The
    # runs queue on the ledger lock; when the later window goes first, days 3–6 get
    # ordinals 1–4 and days 1–2 get 5–6: the n-th entry written, as specified.)
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 12
    for store in stores:
        entries = ledger(store)
        assert sorted(n for _m, n, *_ in entries) == [1, 2, 3, 4, 5, 6]
        by_ordinal = sorted((n, action) for _m, n, action, *_ in entries)
        assert [action for _n, action in by_ordinal] == [W, W, P, P, P, F]


@pytest.mark.postgres
@race
def test_racing_closes_deduct_the_deposit_once():
    # given: fines 1,000.00, nothing payable, deposit 1,500.00
    store = StoreFactory(jd=True, deposit=D("1500.00"))
    entry(store, local(2026, 11, 3, 10), amount="500.00")
    entry(store, local(2026, 11, 4, 10), amount="500.00")
    # when
    results = run_together(
        lambda: settlement_close_month(month=NOV, now=AFTER_NOV),
        lambda: settlement_close_month(month=NOV, now=AFTER_NOV),
    )
    # then: both succeed one after the other; 1,500.00 − 1,000.00 = 500.00, once
    assert all(isinstance(r, list) for r in results), results
    statement = SettlementStatement.objects.get(store=store)
    assert (statement.deposit_before, statement.deposit_after) == (D("1500.00"), D("500.00"))
    store.refresh_from_db()
    assert store.deposit == D("500.00")

"""Late sweeps never mis-remind (issue 13): after a gap (an outage, a beat restart, a
ticket that arrived after its reminder instant) a working-clock reminder waits for
working hours, only the nearest of several due reminders goes out, stating the time
really left, and a ticket that is no longer open gets none."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import TUESDAY_10_SHANGHAI, MembershipFactory, StoreFactory, TicketFactory
from tickets import sla
from tickets.models import (
    Notification,
    Policy,
    Reminder,
    ReplyOption,
    Ticket,
    TicketEvent,
    TicketKind,
)
from tickets.services.contacts import contact_log
from tickets.services.intake import ticket_open
from tickets.services.lifecycle import ticket_reply
from tickets.services.reminders import SKIP, reminder_decide, reminders_for
from tickets.services.sweeps import sweep_run

pytestmark = pytest.mark.django_db

T0 = TUESDAY_10_SHANGHAI


def shanghai(day, hour, minute=0):
    """A local Asia/Shanghai wall time in the week of 2026-11-24 (Tuesday), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def opened(store, number, *, at, kind=TicketKind.NORMAL):
    with time_machine.travel(at, tick=False):
        ticket, _ = ticket_open(
            store=store, number=number, order_number="O", summary="s", kind=kind, now=at
        )
    return ticket


def sweep_at(now):
    """One beat tick at ``now``, with the clock frozen there too."""
    with time_machine.travel(now, tick=False):
        return sweep_run(now=now)


def statuses(ticket):
    return dict(ticket.reminders.values_list("offset_minutes", "status"))


def reminder_notices(ticket):
    return list(
        Notification.objects.filter(ticket=ticket, kind="reminder").values_list("title", flat=True)
    )


def sent_payloads(ticket):
    return list(
        TicketEvent.objects.filter(ticket=ticket, action="reminder_sent").values_list(
            "payload", flat=True
        )
    )


# --- working clock: never outside working hours ---------------------------------------------


@pytest.mark.parametrize(
    "fire_at",
    [
        # As planned: 1 working hour before Wed 09:30 is Tue 18:30; beat was down.
        shanghai(24, 18, 30),
        # A row due at 19:30, after hours (e.g. planned on hours ops have since
        # shortened to 19:00): the sweep must not take its fire_at as sendable.
        shanghai(24, 19, 30),
    ],
    ids=["planned-1830", "after-hours-1930"],
)
def test_crc_reminder_found_late_at_night_waits_for_the_next_opening(fire_at):
    # JD CRC: Tue 15:30 + 4 working hours = 3.5 h Tue + 0.5 h Wed = Wed 09:30.
    ticket = opened(
        StoreFactory(jd=True), "CRC", kind=TicketKind.CRC_HIGH_RISK, at=shanghai(24, 15, 30)
    )
    assert ticket.due_at == shanghai(25, 9, 30)
    Reminder.objects.filter(ticket=ticket).update(fire_at=fire_at)

    # The sweep resumes at 21:00: outside working hours, nothing goes out.
    assert sweep_at(shanghai(24, 21, 0)).reminders == 0
    reminder = Reminder.objects.get(ticket=ticket)
    assert (reminder.status, reminder.fire_at) == ("pending", shanghai(25, 9, 0))
    for night in (shanghai(24, 23, 0), shanghai(25, 3, 0), shanghai(25, 8, 59)):
        assert sweep_at(night).reminders == 0, night
    assert reminder_notices(ticket) == []

    # The next opening: sent, stating the working time really left (30 min, not 1 h).
    assert sweep_at(shanghai(25, 9, 0)).reminders == 1
    reminder.refresh_from_db()
    assert (reminder.status, reminder.sent_at) == ("sent", shanghai(25, 9, 0))
    assert reminder_notices(ticket) == ["Ticket CRC: reply due in 30 minutes"]
    assert sent_payloads(ticket) == [
        {"reminder": reminder.pk, "minutes_before_due": 30, "planned_minutes_before_due": 60}
    ]
    assert sweep_at(shanghai(25, 9, 1)).reminders == 0


def crc_due_at_0910():
    # JD CRC: Tue 15:10 + 4 working hours = 3 h 50 Tue + 10 min Wed = Wed 09:10;
    # its reminder (1 working hour before) is Tue 18:10.
    ticket = opened(
        StoreFactory(jd=True), "CRC", kind=TicketKind.CRC_HIGH_RISK, at=shanghai(24, 15, 10)
    )
    assert ticket.due_at == shanghai(25, 9, 10)
    assert ticket.reminders.get().fire_at == shanghai(24, 18, 10)
    return ticket


def test_overnight_reminder_goes_out_at_0900_with_ten_minutes_left():
    ticket = crc_due_at_0910()
    # Beat was down from 18:00 and came back at 22:00.
    assert sweep_at(shanghai(24, 22, 0)).reminders == 0
    assert sweep_at(shanghai(25, 9, 0)).reminders == 1
    assert reminder_notices(ticket) == ["Ticket CRC: reply due in 10 minutes"]
    assert sent_payloads(ticket)[0]["minutes_before_due"] == 10


def test_overnight_reminder_is_not_sent_when_the_sweep_resumes_after_the_deadline():
    ticket = crc_due_at_0910()
    assert sweep_at(shanghai(24, 22, 0)).reminders == 0
    # Beat down again until 09:15: the deadline passed first.
    result = sweep_at(shanghai(25, 9, 15))
    assert (result.escalated, result.reminders) == (1, 0)
    ticket.refresh_from_db()
    assert ticket.state == "escalated"
    assert statuses(ticket) == {60: "cancelled"}
    assert reminder_notices(ticket) == []
    assert sent_payloads(ticket) == []


def test_no_working_time_left_before_the_deadline_means_no_reminder():
    # A deadline outside working hours (e.g. moved by an exemption to 19:30): at 19:10
    # the next opening (Wed 09:00) comes after it, so nothing is left to remind about.
    decision = reminder_decide(
        now=shanghai(24, 19, 10),
        fire_at=shanghai(24, 18, 30),
        ticket_created_at=shanghai(24, 10, 0),
        due_at=shanghai(24, 19, 30),
        superseded=False,
        clock=sla.WORKING,
        schedule=sla.WorkingSchedule(),
    )
    assert decision.action == SKIP


# --- several due at once: only the nearest ----------------------------------------------------


@pytest.fixture
def four_two_one_hours():
    # ours: a 24 h policy reminding at 4 h, 2 h and 1 h before due (ops data).
    Policy.objects.filter(platform="taobao", kind="normal").update(
        reminder_offsets_minutes=[240, 120, 60]
    )


@pytest.mark.usefixtures("four_two_one_hours")
def test_after_an_outage_only_the_nearest_reminder_goes_out_with_the_real_time_left():
    ticket = opened(StoreFactory(), "OUT", at=T0)  # due Wed 10:00; reminders 06:00, 08:00, 09:00
    assert ticket.due_at == T0 + timedelta(hours=24)

    # No sweep from Wed 05:00 until 09:20.
    assert sweep_at(T0 + timedelta(hours=23, minutes=20)).reminders == 1
    assert statuses(ticket) == {240: "skipped", 120: "skipped", 60: "sent"}
    assert reminder_notices(ticket) == ["Ticket OUT: reply due in 40 minutes"]
    sent = ticket.reminders.get(offset_minutes=60)
    assert sent_payloads(ticket) == [
        {"reminder": sent.pk, "minutes_before_due": 40, "planned_minutes_before_due": 60}
    ]

    # The next tick sends nothing more and changes nothing.
    assert sweep_at(T0 + timedelta(hours=23, minutes=21)).reminders == 0
    assert statuses(ticket) == {240: "skipped", 120: "skipped", 60: "sent"}
    assert len(reminder_notices(ticket)) == 1
    assert len(sent_payloads(ticket)) == 1


@pytest.mark.usefixtures("four_two_one_hours")
def test_a_short_gap_skips_only_what_a_nearer_reminder_replaced():
    ticket = opened(StoreFactory(), "GAP", at=T0)
    # Down from Wed 05:00 to 08:30: the 4 h and 2 h reminders are due, the 1 h is not.
    assert sweep_at(T0 + timedelta(hours=22, minutes=30)).reminders == 1
    assert statuses(ticket) == {240: "skipped", 120: "sent", 60: "pending"}
    assert reminder_notices(ticket) == ["Ticket GAP: reply due in 90 minutes"]
    # Back to normal: the 1 h reminder at its instant.
    assert sweep_at(T0 + timedelta(hours=23)).reminders == 1
    assert statuses(ticket) == {240: "skipped", 120: "sent", 60: "sent"}


def test_a_reminder_before_the_ticket_existed_is_skipped_and_later_ones_go_out():
    # A backdated ticket: stored as created at Tue 23:00 while its deadline (Wed 10:00)
    # stands, so its 12 h reminder instant (Tue 22:00) came before it existed.
    ticket = TicketFactory(
        store=StoreFactory(), created_at=T0 + timedelta(hours=13), due_at=T0 + timedelta(hours=24)
    )
    Reminder.objects.bulk_create(reminders_for(ticket=ticket))
    assert dict(ticket.reminders.values_list("offset_minutes", "fire_at")) == {
        720: T0 + timedelta(hours=12),
        120: T0 + timedelta(hours=22),
    }

    assert sweep_at(T0 + timedelta(hours=13)).reminders == 0
    assert statuses(ticket) == {720: "skipped", 120: "pending"}
    assert sweep_at(T0 + timedelta(hours=22)).reminders == 1
    assert statuses(ticket) == {720: "skipped", 120: "sent"}
    assert reminder_notices(ticket) == [f"Ticket {ticket.number}: reply due in 2 hours"]


# --- no longer open: never sent -----------------------------------------------------------


@pytest.mark.usefixtures("four_two_one_hours")
def test_a_replied_ticket_gets_none_of_its_overdue_reminders_even_left_pending():
    store = StoreFactory()
    member = MembershipFactory(store=store)
    ticket = opened(store, "DONE", at=T0)
    at = T0 + timedelta(hours=1)
    contact_log(ticket=ticket, user=member.user, channel="phone", attempted_at=at, now=at)
    ticket_reply(
        ticket=ticket,
        user=member.user,
        option=ReplyOption.objects.get(platform="taobao", code="other"),
        remark="已处理",
        now=at,
    )
    # Even rows a crash left pending are not sent: the sweep reads open tickets only.
    Reminder.objects.filter(ticket=ticket).update(status="pending")
    assert sweep_at(T0 + timedelta(hours=23, minutes=30)).reminders == 0
    assert set(statuses(ticket).values()) == {"pending"}
    assert reminder_notices(ticket) == []
    assert Ticket.objects.get(pk=ticket.pk).state == "replied"


# --- set-based: the query count does not grow with the late backlog ------------------------


def late_backlog(prefix, n):
    """``n`` Taobao tickets with two overdue reminders each (one sent, one skipped) and
    ``n`` JD CRC tickets whose reminder waits for the morning, at Tue 21:00."""
    taobao, jd = StoreFactory(), StoreFactory(jd=True)
    for i in range(n):
        # Mon 22:00 + 24 h = Tue 22:00; reminders Tue 10:00 and 20:00.
        opened(taobao, f"{prefix}T{i}", at=shanghai(23, 22, 0))
        # Tue 15:30 CRC: due Wed 09:30, reminder Tue 18:30.
        opened(jd, f"{prefix}C{i}", kind=TicketKind.CRC_HIGH_RISK, at=shanghai(24, 15, 30))


def test_late_sweep_query_count_does_not_grow_with_the_backlog():
    # Per reminder batch: the locked select (with the nearer-reminder EXISTS), the
    # calendars and their exceptions, the skip UPDATE, the wait UPDATE, the sent UPDATE,
    # the events INSERT, the stores, the notifications INSERT, then an empty select.
    late = shanghai(24, 21, 0)
    late_backlog("A", 3)
    with CaptureQueriesContext(connection) as small:
        small_result = sweep_at(late)
    late_backlog("B", 30)
    with CaptureQueriesContext(connection) as large:
        large_result = sweep_at(late)

    assert (small_result.reminders, large_result.reminders) == (3, 30)
    assert len(large.captured_queries) == len(small.captured_queries)
    assert Reminder.objects.filter(status="skipped").count() == 33
    assert Reminder.objects.filter(status="sent").count() == 33
    waiting = Reminder.objects.filter(ticket__kind=TicketKind.CRC_HIGH_RISK)
    assert set(waiting.values_list("status", "fire_at")) == {("pending", shanghai(25, 9, 0))}

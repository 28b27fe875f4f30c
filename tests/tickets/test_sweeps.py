"""The deadline sweep with frozen time: reminders at the right instants, exactly
once; escalation of overdue open tickets only; batches that are all-or-nothing."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import TUESDAY_10_SHANGHAI, MembershipFactory, StoreFactory
from tickets.models import (
    Delivery,
    Notification,
    Reminder,
    ReplyOption,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketState,
)
from tickets.services import sweeps
from tickets.services.contacts import contact_log
from tickets.services.intake import ticket_open
from tickets.services.lifecycle import ticket_reply
from tickets.services.sweeps import sweep_run

pytestmark = pytest.mark.django_db

T0 = TUESDAY_10_SHANGHAI


def shanghai(day, hour, minute=0):
    """A local Asia/Shanghai wall time in the week of 2026-11-24 (Tuesday), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def opened(store, number, *, kind=TicketKind.NORMAL, at=T0):
    ticket, _ = ticket_open(
        store=store, number=number, order_number="O", summary="s", kind=kind, now=at
    )
    return ticket


def sent_reminders(ticket):
    return list(
        Reminder.objects.filter(ticket=ticket, status="sent").values_list(
            "offset_minutes", flat=True
        )
    )


def test_opening_a_ticket_schedules_its_reminders():
    ticket = opened(StoreFactory(), "A")
    fire = dict(Reminder.objects.filter(ticket=ticket).values_list("offset_minutes", "fire_at"))
    assert fire == {720: T0 + timedelta(hours=12), 120: T0 + timedelta(hours=22)}


def test_calendar_reminders_fire_at_their_instants_and_once():
    ticket = opened(StoreFactory(), "A")
    assert sweep_run(now=T0 + timedelta(hours=12) - timedelta(seconds=1)).reminders == 0
    assert sweep_run(now=T0 + timedelta(hours=12)).reminders == 1
    assert sweep_run(now=T0 + timedelta(hours=12, minutes=1)).reminders == 0
    assert sent_reminders(ticket) == [720]
    assert sweep_run(now=T0 + timedelta(hours=22)).reminders == 1
    assert sweep_run(now=T0 + timedelta(hours=23)).reminders == 0
    assert sorted(sent_reminders(ticket)) == [120, 720]
    assert Notification.objects.filter(ticket=ticket, kind="reminder").count() == 2
    assert TicketEvent.objects.filter(ticket=ticket, action="reminder_sent").count() == 2


def test_crc_ticket_opened_at_1830_is_reminded_the_next_morning():
    # JD CRC: Tue 18:30 + 4 working hours = Wed 12:30; 1 working hour before = Wed 11:30.
    ticket = opened(
        StoreFactory(jd=True), "CRC", kind=TicketKind.CRC_HIGH_RISK, at=shanghai(24, 18, 30)
    )
    assert ticket.due_at == shanghai(25, 12, 30)
    for night in (
        shanghai(24, 19, 0),
        shanghai(25, 0, 0),
        shanghai(25, 8, 59),
        shanghai(25, 11, 29),
    ):
        assert sweep_run(now=night).reminders == 0, night
    assert sweep_run(now=shanghai(25, 11, 30)).reminders == 1
    reminder = Reminder.objects.get(ticket=ticket)
    assert reminder.sent_at == shanghai(25, 11, 30)


def test_only_overdue_open_tickets_escalate():
    store = StoreFactory()
    member = MembershipFactory(store=store)
    overdue = opened(store, "LATE")
    fresh = opened(store, "FRESH", at=T0 + timedelta(hours=20))
    answered = opened(store, "ANSWERED")
    contact_log(
        ticket=answered,
        user=member.user,
        channel="phone",
        attempted_at=T0 + timedelta(hours=1),
        now=T0 + timedelta(hours=1),
    )
    ticket_reply(
        ticket=answered,
        user=member.user,
        option=ReplyOption.objects.get(platform="taobao", code="other"),
        remark="已处理",
        now=T0 + timedelta(hours=2),
    )

    result = sweep_run(now=T0 + timedelta(hours=24))

    assert result.escalated == 1
    states = dict(Ticket.objects.values_list("number", "state"))
    assert states == {"LATE": "escalated", "FRESH": "open", "ANSWERED": "replied"}
    event = TicketEvent.objects.get(ticket=overdue, action="escalated")
    assert (event.actor, event.from_state, event.payload["waived_evidence"]) == (None, "open", True)
    assert Notification.objects.filter(ticket=overdue, kind="escalated").count() == 1
    # The overdue ticket's unsent reminders will never go out now.
    assert set(Reminder.objects.filter(ticket=overdue).values_list("status", flat=True)) == {
        "cancelled"
    }
    assert fresh.reminders.filter(status="pending").count() == 2


def test_a_ticket_exactly_at_its_deadline_escalates():
    ticket = opened(StoreFactory(), "EDGE")
    assert sweep_run(now=ticket.due_at - timedelta(microseconds=1)).escalated == 0
    assert sweep_run(now=ticket.due_at).escalated == 1


def test_repeated_sweeps_end_as_one_clean_run():
    store = StoreFactory()
    for i in range(7):
        opened(store, f"N{i}", at=T0 + timedelta(minutes=i))
    now = T0 + timedelta(days=2)
    first = sweep_run(now=now, batch_size=3)
    snapshot = (
        TicketEvent.objects.count(),
        Notification.objects.count(),
        list(Ticket.objects.order_by("pk").values_list("state", flat=True)),
    )
    again = sweep_run(now=now, batch_size=3)
    assert (first.escalated, first.batches) == (7, 3)
    assert (again.escalated, again.reminders) == (0, 0)
    assert snapshot == (
        TicketEvent.objects.count(),
        Notification.objects.count(),
        list(Ticket.objects.order_by("pk").values_list("state", flat=True)),
    )


def test_a_crash_mid_batch_leaves_no_half_done_ticket_and_a_rerun_finishes():
    store = StoreFactory()
    for i in range(6):
        opened(store, f"N{i}", at=T0 + timedelta(minutes=i))
    now = T0 + timedelta(days=2)
    real = sweeps.tickets_escalate_locked
    calls = {"n": 0}

    def dies_on_second_batch(**kwargs):
        calls["n"] += 1
        real(**kwargs)  # the batch's writes happen, then the worker "dies"
        if calls["n"] == 2:
            raise SystemExit("worker killed")

    with (
        mock.patch.object(sweeps, "tickets_escalate_locked", side_effect=dies_on_second_batch),
        pytest.raises(SystemExit),
    ):
        sweep_run(now=now, batch_size=3)

    # The first batch committed whole; the second rolled back whole.
    escalated = set(Ticket.objects.filter(state="escalated").values_list("number", flat=True))
    assert escalated == {"N0", "N1", "N2"}
    for ticket in Ticket.objects.filter(state="open"):
        assert not ticket.events.filter(action="escalated").exists()
        assert not ticket.notifications.exists()

    result = sweep_run(now=now, batch_size=3)
    assert result.escalated == 3
    assert TicketEvent.objects.filter(action="escalated").count() == 6
    # One digest per store per committed batch: the rolled-back batch left none.
    digests = Notification.objects.filter(kind="escalated").order_by("pk")
    assert [d.title for d in digests] == ["3 tickets escalated to platform intervention"] * 2
    assert "N3, N4, N5" in digests[1].body


def test_sweep_query_count_does_not_grow_with_the_backlog(django_assert_max_num_queries):
    # No email or bot: sending is one external call per message and is not the sweep's cost.
    store = StoreFactory()

    def backlog(prefix, n):
        for i in range(n):
            opened(store, f"{prefix}{i}", at=T0 + timedelta(minutes=i))

    backlog("A", 3)
    with CaptureQueriesContext(connection) as small:
        sweep_run(now=T0 + timedelta(hours=12, minutes=30))  # 3 reminders
        sweep_run(now=T0 + timedelta(days=2))  # 3 escalations
    backlog("B", 6)
    # Per sweep: the lock, per step one select, its writes, then an empty select.
    with django_assert_max_num_queries(len(small.captured_queries)):
        sweep_run(now=T0 + timedelta(hours=12, minutes=30))  # 6 reminders
        sweep_run(now=T0 + timedelta(days=2))  # 6 escalations


@time_machine.travel(T0 + timedelta(hours=12), tick=False)
def test_reminder_email_is_sent_after_commit_and_once(django_capture_on_commit_callbacks):
    store = StoreFactory(after_sales_email="aftersales@example.com")
    ticket = opened(store, "MAIL")
    with django_capture_on_commit_callbacks(execute=True):
        sweep_run(now=T0 + timedelta(hours=12))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["aftersales@example.com"]
    assert ticket.number in mail.outbox[0].subject
    assert f"/tickets/{ticket.pk}/" in mail.outbox[0].body
    assert Delivery.objects.get().status == "sent"
    with django_capture_on_commit_callbacks(execute=True):
        sweep_run(now=T0 + timedelta(hours=12))
    assert len(mail.outbox) == 1


def test_reply_cancels_pending_reminders():
    store = StoreFactory()
    member = MembershipFactory(store=store)
    ticket = opened(store, "R")
    at = T0 + timedelta(hours=1)
    contact_log(ticket=ticket, user=member.user, channel="phone", attempted_at=at, now=at)
    ticket_reply(
        ticket=ticket,
        user=member.user,
        option=ReplyOption.objects.get(platform="taobao", code="settled"),
        agreed_at=at,
        now=at,
    )
    assert sweep_run(now=T0 + timedelta(hours=23)).reminders == 0
    assert set(ticket.reminders.values_list("status", flat=True)) == {"cancelled"}


def test_settled_reply_is_confirmed_by_the_system_after_72_hours():
    store = StoreFactory()
    member = MembershipFactory(store=store)
    ticket = opened(store, "S")
    at = T0 + timedelta(hours=1)
    contact_log(ticket=ticket, user=member.user, channel="phone", attempted_at=at, now=at)
    ticket_reply(
        ticket=ticket,
        user=member.user,
        option=ReplyOption.objects.get(platform="taobao", code="settled"),
        agreed_at=at,
        now=at,
    )
    assert sweep_run(now=at + timedelta(hours=72) - timedelta(seconds=1)).confirmed == 0
    assert sweep_run(now=at + timedelta(hours=72)).confirmed == 1
    ticket.refresh_from_db()
    assert ticket.state == TicketState.CLOSED
    event = TicketEvent.objects.get(ticket=ticket, action="confirmed")
    assert event.actor is None


def test_exemption_grant_moves_pending_reminders():
    from arbitration.services.exemptions import exemption_grant
    from tests.factories import staff_user
    from tickets.services.exemptions import exemption_request

    store = StoreFactory()
    member = MembershipFactory(store=store)
    ticket = opened(store, "X")
    request = exemption_request(ticket=ticket, user=member.user, reason="停电", minutes=180, now=T0)
    exemption_grant(request=request, user=staff_user("ops"))
    fire = dict(ticket.reminders.values_list("offset_minutes", "fire_at"))
    assert fire[120] == T0 + timedelta(hours=25)


def test_the_command_prints_counts():
    opened(StoreFactory(), "OLD", at=datetime(2020, 1, 1, tzinfo=UTC))
    from io import StringIO

    out = StringIO()
    call_command("sweep_deadlines", stdout=out)
    assert "escalated=1" in out.getvalue()


def test_beat_runs_the_sweep_every_interval(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-deadlines"]
    assert entry["task"] == "tickets.tasks.sweep_deadlines"
    assert entry["schedule"] == settings.SWEEP_INTERVAL_SECONDS == 60
    from config.celery import app

    assert "tickets.tasks.sweep_deadlines" in app.tasks


def test_many_escalations_of_a_store_arrive_as_one_digest():
    store, other = StoreFactory(), StoreFactory()
    for i in range(25):
        opened(store, f"D{i:02d}", at=T0 + timedelta(minutes=i))
    opened(other, "SOLO")
    sweep_run(now=T0 + timedelta(days=2))
    digest = Notification.objects.get(store=store, kind="escalated")
    assert digest.title == "25 tickets escalated to platform intervention"
    assert digest.ticket is None
    assert "D00" in digest.body and "D19" in digest.body and "D20" not in digest.body
    assert "and 5 more" in digest.body
    solo = Notification.objects.get(store=other, kind="escalated")
    assert solo.ticket.number == "SOLO"

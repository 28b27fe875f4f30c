from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection

from tests.factories import StoreFactory, TicketFactory
from tickets.models import (
    AppendOnlyError,
    Policy,
    Ticket,
    TicketEvent,
    TicketState,
    mask_name,
    mask_phone,
)

pytestmark = pytest.mark.django_db


def test_spec_default_policies_are_seeded():
    policies = {(p.platform, p.kind): p for p in Policy.objects.select_related("calendar")}
    assert set(policies) == {
        ("taobao", "normal"),
        ("tmall", "normal"),
        ("jd", "normal"),
        ("jd", "crc_high_risk"),
    }
    crc = policies[("jd", "crc_high_risk")]
    assert (crc.window, crc.clock, crc.reminder_offsets_minutes) == (
        timedelta(hours=4),
        "working",
        [60],
    )
    assert (crc.calendar.day_start.hour, crc.calendar.day_end.hour) == (9, 19)
    assert crc.calendar.weekdays == [0, 1, 2, 3, 4, 5, 6]
    taobao = policies[("taobao", "normal")]
    assert (taobao.window, taobao.clock, taobao.calendar) == (timedelta(hours=24), "calendar", None)
    assert taobao.reminder_offsets == [timedelta(hours=12), timedelta(hours=2)]


def test_state_field_is_protected():
    ticket = TicketFactory()
    with pytest.raises(AttributeError):
        ticket.state = TicketState.CLOSED
    ticket.refresh_from_db()
    assert ticket.state == TicketState.OPEN


def test_ticket_numbers_are_unique():
    ticket = TicketFactory()
    with pytest.raises(IntegrityError):
        TicketFactory(number=ticket.number)


def test_due_cannot_precede_creation():
    ticket = TicketFactory.build()
    ticket.due_at = ticket.created_at - timedelta(minutes=1)
    ticket.store.save()
    ticket.store_id = ticket.store.pk
    with pytest.raises(IntegrityError):
        ticket.save()


def test_events_are_append_only():
    event = TicketEvent.objects.create(
        ticket=TicketFactory(), action="opened", at=TicketFactory().created_at
    )
    event.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    event.refresh_from_db()
    assert event.reason == ""


@pytest.mark.parametrize(
    ("value", "masked"),
    [("13812345678", "138****5678"), ("", ""), ("12345", "1****")],
)
def test_phone_masking(value, masked):
    assert mask_phone(value) == masked


def test_name_masking():
    assert mask_name("张三丰") == "张**"
    assert TicketFactory(consumer_name="李四").consumer_name_masked == "李*"


@pytest.mark.postgres
def test_inbox_and_sweep_queries_use_their_indexes():
    # given 3,000 tickets over 20 stores and 60 days, most of them closed (as in a live
    # store: an index on state alone must not look as selective as the store's), with
    # fresh statistics
    stores = StoreFactory.create_batch(20)
    policy = Policy.objects.get(platform="taobao", kind="normal")
    start = datetime(2026, 9, 1, tzinfo=UTC)
    Ticket.objects.bulk_create(
        Ticket(
            number=f"IDX{i}",
            store=stores[i % 20],
            policy=policy,
            order_number=f"O{i}",
            summary="s",
            created_at=start + timedelta(minutes=29 * i),
            due_at=start + timedelta(minutes=29 * i, hours=24),
            state=TicketState.OPEN if i % 7 == 0 else TicketState.CLOSED,
        )
        for i in range(3000)
    )
    sweep = (
        f"SELECT id FROM {Ticket._meta.db_table} "
        "WHERE state = 'open' AND due_at < '2026-09-02T00:00:00Z'"
    )
    inbox = (
        f"SELECT id FROM {Ticket._meta.db_table} "
        f"WHERE store_id = {stores[3].pk} AND state = 'open' ORDER BY due_at LIMIT 25"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Ticket._meta.db_table}")
        plans = {}
        for name, sql in (("sweep", sweep), ("inbox", inbox)):
            cursor.execute("EXPLAIN " + sql)
            plans[name] = "\n".join(row[0] for row in cursor.fetchall())
    # then each query is an index scan on the index made for it
    assert "ticket_state_due" in plans["sweep"], plans["sweep"]
    assert "ticket_store_state_due" in plans["inbox"], plans["inbox"]

"""The array-parameter fast path and the plain ORM path write the same rows."""

from datetime import UTC, datetime

import pytest

from tests.factories import TicketFactory
from tickets import bulk
from tickets.models import Delivery, Reminder, TicketEvent

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


@pytest.fixture(
    params=[pytest.param(True, marks=pytest.mark.postgres), False], ids=["arrays", "orm"]
)
def path(request, monkeypatch):
    if not request.param:
        monkeypatch.setattr(bulk, "_postgres", lambda: False)
    return request.param


def test_insert_rows_fills_defaults_and_keeps_json(path):
    ticket = TicketFactory()
    bulk.insert_rows(
        TicketEvent,
        ("ticket", "action", "at", "payload"),
        [(ticket.pk, "reminder_sent", AT, {"reminder": 7, "text": "中文 'quoted' \"x\""})],
    )
    event = TicketEvent.objects.get(ticket=ticket)
    assert (event.from_state, event.to_state, event.reason, event.actor) == ("", "", "", None)
    assert event.payload == {"reminder": 7, "text": "中文 'quoted' \"x\""}
    assert event.at == AT


def test_insert_rows_returns_new_ids(path):
    ticket = TicketFactory()
    rows = [(f"k{i}", "email", ticket.store_id, ticket.pk, "s", "b", AT, AT) for i in range(3)]
    ids = bulk.insert_rows(
        Delivery,
        ("key", "channel", "store", "ticket", "subject", "body", "next_attempt_at", "created_at"),
        rows,
        returning_ids=True,
    )
    assert sorted(ids) == sorted(Delivery.objects.values_list("pk", flat=True))
    assert set(Delivery.objects.values_list("status", "attempts", "last_error")) == {
        ("pending", 0, "")
    }


def test_update_by_ids_matches_and_filters(path):
    first, second = TicketFactory(), TicketFactory()
    for ticket in (first, second):
        Reminder.objects.create(ticket=ticket, offset_minutes=60, fire_at=AT)
        Reminder.objects.create(ticket=ticket, offset_minutes=120, fire_at=AT, status="sent")
    changed = bulk.update_by_ids(
        Reminder, [first.pk], match="ticket", where={"status": "pending"}, status="cancelled"
    )
    assert changed == 1
    assert set(first.reminders.values_list("offset_minutes", "status")) == {
        (60, "cancelled"),
        (120, "sent"),
    }
    assert set(second.reminders.values_list("status", flat=True)) == {"pending", "sent"}


def test_update_by_ids_takes_related_objects_for_foreign_keys(path):
    from tests.factories import UserFactory

    ticket, user = TicketFactory(), UserFactory()
    assert bulk.update_by_ids(type(ticket), [ticket.pk], assignee=user) == 1
    ticket.refresh_from_db()
    assert ticket.assignee == user

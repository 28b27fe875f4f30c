"""Opening a ticket: due_at from the store's platform policy, idempotent on the number."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from merchants.models import JDBusinessLine, Platform
from tests.factories import StoreFactory
from tickets.models import Ticket, TicketEvent, TicketKind, TicketState
from tickets.services.intake import ticket_open

pytestmark = pytest.mark.django_db

# Tue 2026-11-24 17:30 Asia/Shanghai
TUE_1730 = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def _open(store, number="N1", **kwargs):
    kwargs.setdefault("now", TUE_1730)
    return ticket_open(store=store, number=number, order_number="O1", summary="s", **kwargs)


def test_taobao_ticket_is_due_24_calendar_hours_later():
    ticket, created = _open(StoreFactory(platform=Platform.TAOBAO))
    assert created
    assert ticket.due_at == TUE_1730 + timedelta(hours=24)
    assert ticket.state == TicketState.OPEN
    assert ticket.priority == Ticket.PRIORITY_NORMAL


def test_jd_crc_ticket_is_due_after_four_working_hours():
    # JD CRC: Tue 17:30 -> Wed 11:30 (1.5 h Tue + 2.5 h Wed), SPEC.md worked example.
    ticket, _ = _open(StoreFactory(jd=True), kind=TicketKind.CRC_HIGH_RISK)
    assert ticket.due_at == datetime(2026, 11, 25, 3, 30, tzinfo=UTC)
    assert ticket.priority == Ticket.PRIORITY_CRC


def test_jd_normal_ticket_is_due_24_calendar_hours_later():
    ticket, _ = _open(StoreFactory(jd=True))
    assert ticket.due_at == TUE_1730 + timedelta(hours=24)


def test_opening_writes_an_opened_event_in_the_same_go():
    ticket, _ = _open(StoreFactory())
    event = TicketEvent.objects.get(ticket=ticket)
    assert (event.action, event.from_state, event.to_state) == ("opened", "", "open")
    assert event.at == TUE_1730
    assert event.payload["due_at"] == ticket.due_at.isoformat()


def test_same_number_again_returns_the_same_ticket_and_writes_nothing():
    store = StoreFactory()
    first, created_first = _open(store)
    again, created_again = _open(store, now=TUE_1730 + timedelta(hours=1))
    assert created_first and not created_again
    assert again.pk == first.pk
    assert again.due_at == first.due_at
    assert Ticket.objects.count() == 1
    assert TicketEvent.objects.count() == 1


def test_same_number_for_another_store_is_a_conflict():
    _open(StoreFactory())
    with pytest.raises(ValidationError) as excinfo:
        _open(StoreFactory())
    assert excinfo.value.code == "number_conflict"
    assert Ticket.objects.count() == 1


def test_excluded_jd_store_is_refused_and_nothing_is_written():
    store = StoreFactory(jd=True, jd_business_line=JDBusinessLine.JINGXI)
    with pytest.raises(ValidationError) as excinfo:
        _open(store)
    assert excinfo.value.code == "store_ineligible"
    assert not Ticket.objects.exists()
    assert not TicketEvent.objects.exists()


def test_crc_kind_is_refused_outside_jd():
    with pytest.raises(ValidationError) as excinfo:
        _open(StoreFactory(platform=Platform.TMALL), kind=TicketKind.CRC_HIGH_RISK)
    assert excinfo.value.code == "crc_not_jd"
    assert not Ticket.objects.exists()


def test_unknown_category_is_refused():
    with pytest.raises(ValidationError):
        _open(StoreFactory(), category="nonsense")
    assert not Ticket.objects.exists()


def test_changed_policy_applies_to_new_tickets_only():
    from tickets.models import Policy

    store = StoreFactory()
    old, _ = _open(store, number="OLD")
    Policy.objects.filter(platform=Platform.TAOBAO).update(window=timedelta(hours=48))
    new, _ = _open(store, number="NEW")
    old.refresh_from_db()
    assert old.due_at == TUE_1730 + timedelta(hours=24)
    assert new.due_at == TUE_1730 + timedelta(hours=48)

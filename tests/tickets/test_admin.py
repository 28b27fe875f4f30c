from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from tests.factories import TUESDAY_10_SHANGHAI, StoreFactory, TicketFactory, UserFactory
from tickets.models import TicketKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    "model",
    [
        "tickets/ticket",
        "tickets/policy",
        "tickets/workingcalendar",
        "tickets/ticketevent",
        "tickets/contactattempt",
        "tickets/evidence",
        "tickets/reply",
        "tickets/exemptionrequest",
        "tickets/reminder",
        "tickets/notification",
        "tickets/delivery",
        "tickets/replyoption",
        "arbitration/escalatedticket",
        "arbitration/judgment",
        "arbitration/compensation",
        "arbitration/violation",
        "merchants/store",
        "merchants/membership",
        "merchants/dailyordervolume",
    ],
)
def test_every_model_has_an_admin_list(staff_client, model):
    TicketFactory()
    app_label, model_name = model.split("/")
    response = staff_client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert response.status_code == 200


@time_machine.travel(TUESDAY_10_SHANGHAI + timedelta(hours=1), tick=False)
def test_ticket_list_shows_time_remaining_and_filters(staff_client):
    TicketFactory(number="TB-1")
    jd = StoreFactory(jd=True)
    TicketFactory(number="JD-CRC", store=jd, kind=TicketKind.CRC_HIGH_RISK)
    url = reverse("admin:tickets_ticket_changelist")

    response = staff_client.get(url)
    body = response.content.decode()
    # Taobao: 24 h from 10:00, now 11:00 -> 23 h left; CRC: 4 working h from 10:00 -> 3 h left.
    assert "23h 00m" in body
    assert "3h 00m" in body

    response = staff_client.get(url, {"store__platform__exact": "jd"})
    assert "JD-CRC" in response.content.decode() and "TB-1" not in response.content.decode()

    response = staff_client.get(url, {"q": "TB-1"})
    assert "TB-1" in response.content.decode() and "JD-CRC" not in response.content.decode()


@time_machine.travel(TUESDAY_10_SHANGHAI + timedelta(hours=11), tick=False)
def test_working_clock_shows_paused_outside_hours(staff_client):
    # 21:00 local: the CRC clock waits until 09:00.
    TicketFactory(number="JD-CRC", store=StoreFactory(jd=True), kind=TicketKind.CRC_HIGH_RISK)
    body = staff_client.get(reverse("admin:tickets_ticket_changelist")).content.decode()
    assert "(clock paused)" in body


@time_machine.travel(TUESDAY_10_SHANGHAI + timedelta(days=2), tick=False)
def test_overdue_filter(staff_client):
    TicketFactory(number="LATE")
    TicketFactory(number="FRESH", created_at=TUESDAY_10_SHANGHAI + timedelta(days=1, hours=12))
    url = reverse("admin:tickets_ticket_changelist")
    body = staff_client.get(url, {"overdue": "yes"}).content.decode()
    assert "LATE" in body and "FRESH" not in body
    body = staff_client.get(url, {"overdue": "no"}).content.decode()
    assert "FRESH" in body and "LATE" not in body


def test_ticket_list_query_count_does_not_grow_with_rows(
    staff_client, django_assert_max_num_queries
):
    url = reverse("admin:tickets_ticket_changelist")
    jd = StoreFactory(jd=True)
    TicketFactory.create_batch(2)
    TicketFactory.create_batch(2, store=jd, kind=TicketKind.CRC_HIGH_RISK)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        staff_client.get(url)
    TicketFactory.create_batch(10)
    TicketFactory.create_batch(10, store=jd, kind=TicketKind.CRC_HIGH_RISK)
    # session, user, count x2, rows, date hierarchy, prefetch calendar exceptions, filters...
    with django_assert_max_num_queries(len(few.captured_queries)):
        staff_client.get(url)


def test_state_is_read_only_in_admin(staff_client):
    ticket = TicketFactory()
    response = staff_client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    assert response.status_code == 200
    assert 'name="state"' not in response.content.decode()


def test_events_cannot_be_added_or_changed_in_admin(staff_client):
    response = staff_client.get(reverse("admin:tickets_ticketevent_add"))
    assert response.status_code == 403

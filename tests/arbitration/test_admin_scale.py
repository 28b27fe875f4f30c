"""The staff lists at platform volume (bench_pages, issue 12): what each page queries
and what its rows still show once a page costs one reverse() and no store join in
its count. bench_pages measures the time; these pin the shape."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arbitration.admin import EscalatedTicketAdmin
from arbitration.models import StoreDayReport
from arbitration.services.appeals import appeal_file
from arbitration.services.decisions import ticket_judge
from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    UserFactory,
    staff_user,
)
from tickets.admin import LIST_PER_PAGE
from tickets.models import Ticket
from tickets.services.lifecycle import ticket_escalate

pytestmark = pytest.mark.django_db

QUEUE_URL = "admin:arbitration_escalatedticket_changelist"
NOW = TUESDAY_10_SHANGHAI + timedelta(days=3)


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def arbitrator_client(client):
    client.force_login(staff_user("arbitrator"))
    return client


def escalated_ticket(**kwargs) -> Ticket:
    ticket = TicketFactory(**kwargs)
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


def judge_url(ticket) -> str:
    return reverse("admin:arbitration_escalatedticket_judge", args=[ticket.pk])


def day_report(store, rate: str) -> StoreDayReport:
    return StoreDayReport.objects.create(
        store=store, day=date(2026, 11, 24), dispute_rate=Decimal(rate), computed_at=NOW
    )


def column(name: str) -> int:
    """The ?o= number of a queue column (its index; the queue has no checkbox column)."""
    return EscalatedTicketAdmin.list_display.index(name)


# --- the escalated queue --------------------------------------------------------------


def test_queue_counts_its_tickets_once_without_the_store_figures(arbitrator_client):
    # given
    store = StoreFactory(jd=True)
    day_report(store, "1.5")
    escalated_ticket(store=store)
    escalated_ticket()

    # when
    with CaptureQueriesContext(connection) as queries:
        response = arbitrator_client.get(reverse(QUEUE_URL))

    # then: one count (no "of N in total" count), on the tickets alone
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert len(counts) == 1
    assert "merchants_store" not in counts[0] and "arbitration_" not in counts[0]
    # ...while the rows still carry their store's figures
    rows = {t.store_id: t for t in response.context["cl"].result_list}
    assert rows[store.pk].dispute_rate_latest == Decimal("1.5")
    assert rows[store.pk].closure_points == 48
    assert "1.50%" in response.content.decode()


def test_queue_pages_keep_queue_order_and_figures(arbitrator_client):
    # given: one more ticket than a page, the last of them waiting the least
    store = StoreFactory(jd=True)
    day_report(store, "2.5")
    tickets = [
        escalated_ticket(store=store, created_at=TUESDAY_10_SHANGHAI + timedelta(minutes=i))
        for i in range(LIST_PER_PAGE + 1)
    ]
    url = reverse(QUEUE_URL)

    # when
    first = arbitrator_client.get(url)
    second = arbitrator_client.get(url, {"p": 2})

    # then
    assert [t.pk for t in first.context["cl"].result_list] == [t.pk for t in tickets[:-1]]
    (last,) = second.context["cl"].result_list
    assert last.pk == tickets[-1].pk
    assert (last.dispute_rate_latest, last.points_in_window) == (Decimal("2.5"), 0)
    body = second.content.decode()
    assert f'<a href="{judge_url(last)}">{last.number}</a>' in body
    assert f'<a class="button" href="{judge_url(last)}">' in body
    assert judge_url(tickets[0]) not in body


def test_queue_still_sorts_by_a_store_figure(arbitrator_client):
    # given: three stores, their rates out of the queue's own order
    rates = {"LOW": "0.5", "HIGH": "9.0", "MID": "3.0"}
    for number, rate in rates.items():
        store = StoreFactory()
        day_report(store, rate)
        escalated_ticket(store=store, number=number)
    url = reverse(QUEUE_URL)

    # when
    descending = arbitrator_client.get(url, {"o": f"-{column('dispute_rate')}"})
    ascending = arbitrator_client.get(url, {"o": str(column("dispute_rate"))})

    # then
    assert [t.number for t in descending.context["cl"].result_list] == ["HIGH", "MID", "LOW"]
    assert [t.number for t in ascending.context["cl"].result_list] == ["LOW", "MID", "HIGH"]


# --- the ticket list ------------------------------------------------------------------


def test_ticket_list_rows_link_and_select_as_admin_renders_them(client):
    # given
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    tickets = TicketFactory.create_batch(LIST_PER_PAGE + 1)
    newest = max(tickets, key=lambda t: (t.created_at, t.pk))

    # when
    response = client.get(reverse("admin:tickets_ticket_changelist"))

    # then: a page of rows, each linking to its change page
    rows = list(response.context["cl"].result_list)
    assert len(rows) == LIST_PER_PAGE
    body = response.content.decode()
    change = reverse("admin:tickets_ticket_change", args=[newest.pk])
    assert f'<th class="field-number"><a href="{change}">{newest.number}</a></th>' in body
    # ...and the action checkbox exactly as admin's own widget renders it
    model_admin = admin.site._registry[Ticket]
    stock = admin.ModelAdmin.action_checkbox(model_admin, newest)
    assert f'<td class="action-checkbox">{stock}</td>' in body


# --- the appeal queue -----------------------------------------------------------------


def appeal_on(number: str, *, judge):
    store = StoreFactory()
    ticket = escalated_ticket(store=store, number=number)
    judgment = ticket_judge(
        ticket=ticket,
        user=judge,
        merchant_liable=True,
        refund_amount="30.00",
        reasoning="商家未举证",
        now=NOW - timedelta(hours=5),
    )
    return appeal_file(
        user=MembershipFactory(store=store).user,
        judgment=judgment,
        statement="已在时限内联系买家",
        files=[],
        now=NOW - timedelta(hours=4),
    )


def test_appeal_queue_links_each_row_to_its_own_decision(client):
    # given
    client.force_login(staff_user("arbitrator", "judge-2"))
    judge = staff_user("arbitrator", "judge-1")
    appeals = [appeal_on("AP-1", judge=judge), appeal_on("AP-2", judge=judge)]

    # when
    body = client.get(reverse("admin:arbitration_appeal_changelist")).content.decode()

    # then
    for appeal in appeals:
        decide = reverse("admin:arbitration_appeal_decide", args=[appeal.pk])
        assert f'<a class="nowrap" href="{decide}">{appeal.ticket.number}</a>' in body
        assert re.search(rf'<a class="button" href="{re.escape(decide)}">', body)

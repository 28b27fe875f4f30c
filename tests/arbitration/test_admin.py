"""The arbitrators' admin: the escalated queue, the judge view and the read-only records."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arbitration.models import Compensation, Judgment, Violation
from arbitration.services.decisions import ticket_compensate, ticket_judge
from arbitration.services.findings import evidence_mark_forged
from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    make_evidence,
    staff_user,
)
from tickets.models import (
    ReplyOption,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketState,
)
from tickets.services.contacts import contact_log
from tickets.services.lifecycle import ticket_escalate, ticket_reply

pytestmark = pytest.mark.django_db

QUEUE_URL = "admin:arbitration_escalatedticket_changelist"


def escalated_ticket(**kwargs) -> Ticket:
    ticket = TicketFactory(**kwargs)
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


def judge_url(ticket) -> str:
    return reverse("admin:arbitration_escalatedticket_judge", args=[ticket.pk])


def snapshot(ticket) -> tuple:
    """What a refused POST must leave as it was."""
    ticket = Ticket.objects.get(pk=ticket.pk)
    return (
        ticket.state,
        TicketEvent.objects.filter(ticket=ticket).count(),
        Judgment.objects.filter(ticket=ticket).count(),
        Compensation.objects.filter(ticket=ticket).count(),
        LogEntry.objects.count(),
    )


@pytest.fixture
def arbitrator():
    return staff_user("arbitrator")


@pytest.fixture
def arbitrator_client(client, arbitrator):
    client.force_login(arbitrator)
    return client


# --- the queue ------------------------------------------------------------------------


def test_queue_lists_escalated_tickets_crc_first_then_longest_waiting(arbitrator_client):
    # given: escalated tickets (each escalated at its own deadline) and others that are not
    escalated_ticket(number="NEWER")  # escalated Wed 10:00
    escalated_ticket(number="OLDER", created_at=TUESDAY_10_SHANGHAI - timedelta(hours=2))
    escalated_ticket(
        number="CRC",
        store=StoreFactory(jd=True),
        kind=TicketKind.CRC_HIGH_RISK,
        created_at=TUESDAY_10_SHANGHAI + timedelta(hours=1),
    )
    TicketFactory(number="STILL-OPEN")
    judged = escalated_ticket(number="ALREADY-JUDGED")
    ticket_judge(
        ticket=judged,
        user=staff_user("arbitrator", "other-arbitrator"),
        merchant_liable=False,
        refund_amount="0",
        reasoning="已处理",
    )

    # when
    response = arbitrator_client.get(reverse(QUEUE_URL))

    # then
    assert response.status_code == 200
    assert [t.number for t in response.context["cl"].result_list] == ["CRC", "OLDER", "NEWER"]
    body = response.content.decode()
    assert "STILL-OPEN" not in body and "ALREADY-JUDGED" not in body
    assert judge_url(Ticket.objects.get(number="CRC")) in body


def test_queue_links_worry_free_tickets_to_compensation(arbitrator_client):
    escalated_ticket(number="WF", worry_free=True)
    escalated_ticket(number="PLAIN")
    body = arbitrator_client.get(reverse(QUEUE_URL)).content.decode()
    assert ">Compensate<" in body and ">Judge<" in body


def test_queue_query_count_does_not_grow_with_rows(
    arbitrator_client, django_assert_max_num_queries
):
    # Each ticket has its own store (and one is JD CRC): rows must not query per store.
    def add_rows(n):
        for _ in range(n):
            escalated_ticket()
        escalated_ticket(store=StoreFactory(jd=True), kind=TicketKind.CRC_HIGH_RISK)

    url = reverse(QUEUE_URL)
    add_rows(3)
    with CaptureQueriesContext(connection) as few:
        response = arbitrator_client.get(url)
    assert len(response.context["cl"].result_list) == 4
    add_rows(3)
    # session, user, user's permissions (2), count, full count, rows with their store.
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = arbitrator_client.get(url)
    assert len(response.context["cl"].result_list) == 8


def test_queue_is_on_the_arbitrators_admin_index(arbitrator_client):
    body = arbitrator_client.get(reverse("admin:index")).content.decode()
    assert reverse(QUEUE_URL) in body and "Escalated queue" in body


def test_queue_is_for_those_who_decide(client):
    escalated_ticket()
    client.force_login(staff_user("cs_agent"))
    assert client.get(reverse(QUEUE_URL)).status_code == 403


def test_queue_has_no_add_or_delete(arbitrator_client):
    ticket = escalated_ticket()
    assert (
        arbitrator_client.get(reverse("admin:arbitration_escalatedticket_add")).status_code == 403
    )
    response = arbitrator_client.get(
        reverse("admin:arbitration_escalatedticket_delete", args=[ticket.pk])
    )
    assert response.status_code == 403


# --- the judge view -------------------------------------------------------------------


def test_judge_page_shows_the_case(arbitrator_client):
    # given: a ticket the merchant answered "consumer disagrees" (escalated at once)
    member = MembershipFactory()
    ticket = TicketFactory(store=member.store, summary="买家称商品破损")
    soon = ticket.created_at + timedelta(hours=1)
    contact_log(
        ticket=ticket,
        user=member.user,
        channel="phone",
        attempted_at=soon,
        note="电话沟通",
        now=soon,
    )
    make_evidence(ticket, "聊天记录.png")
    ticket_reply(
        ticket=ticket,
        user=member.user,
        option=ReplyOption.objects.get(platform=ticket.store.platform, code="disagrees"),
        remark="买家不同意补发",
        now=soon,
    )

    # when
    response = arbitrator_client.get(judge_url(ticket))

    # then
    assert response.status_code == 200
    body = response.content.decode()
    assert "买家称商品破损" in body
    assert "13812345678" in body and "138****5678" in body  # full for staff, masked shown too
    assert "买家不同意补发" in body  # the merchant's reply
    assert "电话沟通" in body  # contact attempts
    assert "聊天记录.png" in body
    assert reverse("admin:tickets_evidence_download", args=[ticket.evidence.get().pk]) in body
    assert "escalated" in body  # the timeline
    assert 'name="merchant_liable"' in body and 'name="reasoning"' in body


def test_cs_agent_may_not_open_the_judge_view(client):
    ticket = escalated_ticket()
    client.force_login(staff_user("cs_agent"))
    assert client.get(judge_url(ticket)).status_code == 403
    before = snapshot(ticket)
    response = client.post(
        judge_url(ticket), {"merchant_liable": "yes", "refund_amount": "1", "reasoning": "x"}
    )
    assert response.status_code == 403
    assert snapshot(ticket) == before


def test_arbitrator_judges_from_the_admin(arbitrator_client, arbitrator):
    ticket = escalated_ticket()

    # confirmed=1: the second step of the judgment (the first is in test_admin_workspace.py)
    response = arbitrator_client.post(
        judge_url(ticket),
        {
            "merchant_liable": "yes",
            "refund_amount": "59.90",
            "reasoning": "商家超时未回复",
            "confirmed": "1",
        },
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse(QUEUE_URL)
    ticket.refresh_from_db()
    assert ticket.state == TicketState.JUDGED
    judgment = Judgment.objects.get(ticket=ticket)
    assert (judgment.merchant_liable, judgment.refund_amount, judgment.judged_by) == (
        True,
        Decimal("59.90"),
        arbitrator,
    )
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Ticket), object_id=str(ticket.pk)
    )
    assert (entry.action_flag, entry.user) == (CHANGE, arbitrator)
    assert "merchant liable" in entry.change_message
    assert "Judged: merchant liable" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"merchant_liable": "yes", "refund_amount": "-1", "reasoning": "x"},
            "refund_amount",
            "Enter an amount of at least 0 with at most 2 decimals.",
        ),
        (
            {"merchant_liable": "no", "refund_amount": "0", "reasoning": "   "},
            "reasoning",
            "Give the reasoning for the judgment.",
        ),
        (
            {"refund_amount": "0", "reasoning": "x"},
            "merchant_liable",
            "This field is required.",
        ),
    ],
)
def test_bad_judgment_shows_the_error_and_changes_nothing(arbitrator_client, data, field, message):
    ticket = escalated_ticket()
    before = snapshot(ticket)

    response = arbitrator_client.post(judge_url(ticket), data)

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert message in response.content.decode()
    assert snapshot(ticket) == before


def test_judging_a_ticket_already_judged_is_refused_on_the_form(arbitrator_client):
    ticket = escalated_ticket()
    data = {"merchant_liable": "no", "refund_amount": "0", "reasoning": "x"}
    assert arbitrator_client.post(judge_url(ticket), data | {"confirmed": "1"}).status_code == 302
    before = snapshot(ticket)

    response = arbitrator_client.post(judge_url(ticket), data)

    assert response.status_code == 200
    assert "this needs it Escalated" in str(response.context["form"].non_field_errors())
    assert snapshot(ticket) == before


def test_worry_free_ticket_gets_the_compensation_form_and_closes(arbitrator_client):
    ticket = escalated_ticket(worry_free=True)
    body = arbitrator_client.get(judge_url(ticket)).content.decode()
    assert 'name="amount"' in body and 'name="merchant_liable"' not in body

    response = arbitrator_client.post(judge_url(ticket), {"amount": "20.00", "note": "无忧购标准"})

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.state == TicketState.CLOSED
    assert Compensation.objects.get(ticket=ticket).amount == Decimal("20.00")
    assert not Judgment.objects.exists()
    assert LogEntry.objects.filter(object_id=str(ticket.pk)).exists()


def test_bad_compensation_changes_nothing(arbitrator_client):
    ticket = escalated_ticket(worry_free=True)
    before = snapshot(ticket)
    response = arbitrator_client.post(judge_url(ticket), {"amount": "-5", "note": ""})
    assert response.status_code == 200
    assert "amount" in response.context["form"].errors
    assert snapshot(ticket) == before


# --- read-only records ----------------------------------------------------------------


@pytest.fixture
def records(arbitrator):
    judged = escalated_ticket(number="J-1")
    ticket_judge(
        ticket=judged, user=arbitrator, merchant_liable=True, refund_amount="1", reasoning="x"
    )
    evidence_mark_forged(
        evidence=make_evidence(judged), user=arbitrator, severity="serious", note="截图伪造"
    )
    compensated = escalated_ticket(number="C-1", worry_free=True)
    ticket_compensate(ticket=compensated, user=arbitrator, amount="2")


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("judgment", {"merchant_liable__exact": "1", "q": "J-1"}),
        ("compensation", {"ticket__store__platform__exact": "taobao", "q": "C-1"}),
        ("violation", {"severity__exact": "serious", "store__platform__exact": "taobao"}),
    ],
)
def test_records_are_listed_filtered_and_read_only(arbitrator_client, records, model, params):
    url = reverse(f"admin:arbitration_{model}_changelist")
    response = arbitrator_client.get(url, params)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert arbitrator_client.get(reverse(f"admin:arbitration_{model}_add")).status_code == 403
    record = response.context["cl"].result_list[0]
    change = arbitrator_client.get(reverse(f"admin:arbitration_{model}_change", args=[record.pk]))
    assert change.status_code == 200
    assert 'type="submit"' not in change.content.decode().split('id="content-main"')[1]
    delete = reverse(f"admin:arbitration_{model}_delete", args=[record.pk])
    assert arbitrator_client.post(delete, {"post": "yes"}).status_code == 403
    assert Judgment.objects.count() == Compensation.objects.count() == Violation.objects.count()

"""End to end, over the real entry points: the CS system opens a ticket by API, the store
replies in its dashboard, CS adds a note and objects by API (idempotently), an arbitrator
judges in the admin, and a webhook subscriber's reference receiver (manage.py
webhook_listen, over 127.0.0.1) prints the five events in order, each once, signed."""

import json
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from arbitration.models import Judgment
from integration.models import WebhookAttempt
from integration.services import subscriber_deliver
from tests.factories import MembershipFactory, StoreFactory, UserFactory, staff_user
from tickets.models import ReplyOption, Ticket, TicketState
from tickets.services.contacts import contact_log
from tickets.services.tokens import api_token_create

from .conftest import settle, subscribe
from .test_webhook_listen import listen  # noqa: F401 - the reference receiver fixture

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Tuesday 24 November 2026, 10:00 in Beijing; the clock runs on from there.
OPENED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
FIVE = ["ticket.opened", "ticket.replied", "ticket.note_added", "ticket.escalated", "ticket.judged"]


def cs_client() -> Client:
    user = UserFactory(username="cs-system")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="tickets",
            codename__in=["use_intake_api", "escalate_ticket", "change_ticket"],
        )
    )
    _, raw_key = api_token_create(user=user, name="platform CS")
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw_key}"})


def test_intake_reply_objection_judgment_reach_the_subscriber_in_order_once(listen):  # noqa: F811
    with time_machine.travel(OPENED_AT, tick=True) as clock:
        _end_to_end(listen, clock)


def _end_to_end(listen, clock):  # noqa: F811
    # given a subscriber to the ticket's five public events, its receiver listening
    subscriber = subscribe("http://127.0.0.1:1/", name="platform-cs", event_types=FIVE)
    url, out = listen(subscriber.secret)
    subscriber.url = url
    subscriber.save(update_fields=["url"])
    store = StoreFactory(code="TB-E2E-1")
    owner = MembershipFactory(store=store, role="owner").user
    cs = cs_client()

    # CS opens the ticket (intake API)
    response = cs.post(
        "/api/v1/tickets",
        {
            "number": "CS-E2E-1",
            "store_code": "TB-E2E-1",
            "order_number": "O-E2E",
            "summary": "买家催发货",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get(number="CS-E2E-1")

    # the store calls the consumer ten minutes later and replies in its dashboard
    clock.shift(timedelta(minutes=10))
    merchant = Client()
    merchant.force_login(owner)
    contacted = timezone.now() - timedelta(minutes=1)
    contact_log(ticket=ticket, user=owner, channel="phone", attempted_at=contacted, now=contacted)
    agreed = timezone.localtime(contacted).strftime("%Y-%m-%dT%H:%M")
    settled = ReplyOption.objects.get(platform=store.platform, code="settled")
    response = merchant.post(
        reverse("ticket_reply", args=[ticket.pk]),
        {"option": settled.pk, "agreed_at": agreed, "remark": "已补发"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert Ticket.objects.get(pk=ticket.pk).state == TicketState.REPLIED

    # CS notes the consumer's call and objects (sent twice: the retry is a replay)
    note = cs.post(
        "/api/v1/tickets/CS-E2E-1/notes",
        {"text": "买家来电：未收到补发"},
        content_type="application/json",
        headers={"Idempotency-Key": "e2e-note-1"},
    )
    assert note.status_code == 200, note.content
    for _ in range(2):
        objection = cs.post(
            "/api/v1/tickets/CS-E2E-1/object",
            {"reason": "买家称未收到补发的商品"},
            content_type="application/json",
            headers={"Idempotency-Key": "e2e-object-1"},
        )
        assert objection.status_code == 200, objection.content
    assert objection["Idempotent-Replayed"] == "true"
    assert Ticket.objects.get(pk=ticket.pk).state == TicketState.ESCALATED

    # an arbitrator judges in the admin (the judge page's two steps)
    arbitrator = Client()
    arbitrator.force_login(staff_user("arbitrator", "judge-e2e"))
    judge = reverse("admin:arbitration_escalatedticket_judge", args=[ticket.pk])
    decision = {"merchant_liable": "yes", "refund_amount": "59.9", "reasoning": "未见补发凭证"}
    assert arbitrator.post(judge, decision | {"confirmed": "1"}).status_code == 302
    assert Judgment.objects.get(ticket=ticket).refund_amount == Decimal("59.90")

    # when the webhooks run (twice: the second finds nothing new)
    settle()
    first = subscriber_deliver(subscriber_id=subscriber.pk, now=timezone.now())
    again = subscriber_deliver(
        subscriber_id=subscriber.pk, now=timezone.now() + timedelta(minutes=1)
    )

    # then the receiver verified and printed the five events, in order, each once
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [event["type"] for event in events] == FIVE
    assert len({event["id"] for event in events}) == 5
    assert {event["ticket"]["number"] for event in events} == {"CS-E2E-1"}
    assert [event["data"]["to_state"] for event in events] == [
        "open",
        "replied",
        None,
        "escalated",
        "judged",
    ]
    assert events[2]["id"] == f"evt_{note.json()['id'].removeprefix('evt_')}"
    assert (first.delivered, again.delivered) == (5, 0)
    assert list(WebhookAttempt.objects.values_list("status_code", flat=True)) == [204] * 5

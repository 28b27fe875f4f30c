"""Appeals in the admin: the queue, the one-page decision, roles, the window as data."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arbitration.models import Appeal, AppealPolicy, AppealState
from arbitration.services.appeals import appeal_file
from arbitration.services.decisions import ticket_judge
from arbitration.services.findings import evidence_mark_forged
from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    make_evidence,
    staff_user,
)
from tickets.services.lifecycle import ticket_escalate

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
JUDGED_AT = TUESDAY_10_SHANGHAI + timedelta(days=2)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(JUDGED_AT + timedelta(days=1), tick=False):
        yield


def escalated(store):
    ticket = TicketFactory(store=store)
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


def appealed_judgment(store=None, *, filed=None, files=()):
    store = store or StoreFactory()
    judgment = ticket_judge(
        ticket=escalated(store),
        user=staff_user("arbitrator", "judge-1"),
        merchant_liable=True,
        refund_amount="30.00",
        reasoning="商家未举证",
        now=JUDGED_AT,
    )
    return appeal_file(
        user=MembershipFactory(store=store).user,
        judgment=judgment,
        statement="已在时限内联系买家",
        files=list(files),
        now=filed or JUDGED_AT + timedelta(hours=2),
    )


def appealed_finding(store=None):
    store = store or StoreFactory()
    ticket = escalated(store)
    violation = evidence_mark_forged(
        evidence=make_evidence(ticket),
        user=staff_user("arbitrator", "judge-1"),
        severity="general",
        note="篡改",
        now=JUDGED_AT,
    )
    return appeal_file(
        user=MembershipFactory(store=store).user,
        violation=violation,
        statement="原图在此",
        now=JUDGED_AT + timedelta(hours=1),
    )


def logged_in(client, role, username):
    user = staff_user(role, username)
    client.force_login(user)
    return user


def test_the_queue_puts_waiting_appeals_first_oldest_first(client):
    late = appealed_judgment(filed=JUDGED_AT + timedelta(hours=5))
    early = appealed_finding()
    done = appealed_judgment(filed=JUDGED_AT + timedelta(hours=1))
    Appeal.objects.filter(pk=done.pk).update(state=AppealState.UPHELD)
    logged_in(client, "arbitrator", "judge-2")

    body = client.get(reverse("admin:arbitration_appeal_changelist")).content.decode()

    order = [body.index(a.ticket.number) for a in (early, late, done)]
    assert order == sorted(order)
    assert "Forged evidence: 12 points" in body
    assert "Judgment: merchant liable, refund 30.00 CNY" in body


def test_the_queue_keeps_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    appealed_judgment()
    logged_in(client, "arbitrator", "judge-2")
    url = reverse("admin:arbitration_appeal_changelist")
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(4):
        appealed_judgment()
        appealed_finding()
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_one_page_shows_ticket_decision_statement_and_new_evidence(client):
    upload = SimpleUploadedFile("通话录音截图.png", PNG, content_type="image/png")
    appeal = appealed_judgment(files=[upload])
    logged_in(client, "arbitrator", "judge-2")

    body = client.get(reverse("admin:arbitration_appeal_decide", args=[appeal.pk])).content.decode()

    assert appeal.ticket.number in body
    assert "商家未举证" in body and "已在时限内联系买家" in body
    file_url = reverse("admin:arbitration_appeal_file", args=[appeal.pk, appeal.files.get().pk])
    assert file_url in body
    response = client.get(file_url)
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    assert b"".join(response.streaming_content) == PNG


def test_another_arbitrator_overturns_from_the_page(client):
    appeal = appealed_judgment()
    logged_in(client, "arbitrator", "judge-2")

    response = client.post(
        reverse("admin:arbitration_appeal_decide", args=[appeal.pk]),
        {"decision": "overturn", "reasoning": "买家聊天记录显示已协商"},
    )

    assert response.status_code == 302
    appeal.refresh_from_db()
    assert appeal.state == AppealState.OVERTURNED
    assert appeal.judgment.overturned_at is not None


def test_the_arbitrator_who_decided_gets_no_form_and_a_post_is_refused(client):
    appeal = appealed_judgment()
    logged_in(client, "arbitrator", "judge-1")
    url = reverse("admin:arbitration_appeal_decide", args=[appeal.pk])

    body = client.get(url).content.decode()
    assert "appeal_decide_form" not in body
    assert "another arbitrator decides its appeal" in body
    response = client.post(url, {"decision": "overturn", "reasoning": "x"})

    assert response.status_code == 200
    assert "cannot decide its appeal" in response.content.decode()
    appeal.refresh_from_db()
    assert appeal.state == AppealState.FILED


def test_a_missing_reasoning_is_shown_and_nothing_changes(client):
    appeal = appealed_judgment()
    logged_in(client, "arbitrator", "judge-2")
    response = client.post(
        reverse("admin:arbitration_appeal_decide", args=[appeal.pk]),
        {"decision": "uphold", "reasoning": ""},
    )
    assert response.status_code == 200
    assert "Give the reasoning for the decision." in response.content.decode()
    appeal.refresh_from_db()
    assert appeal.state == AppealState.FILED


@pytest.mark.parametrize("role", ["cs_agent", "ops"])
def test_only_arbitrators_decide(client, role):
    appeal = appealed_judgment()
    logged_in(client, role, f"{role}-1")
    url = reverse("admin:arbitration_appeal_decide", args=[appeal.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"decision": "overturn", "reasoning": "x"}).status_code == 403
    appeal.refresh_from_db()
    assert appeal.state == AppealState.FILED


def test_ops_edit_the_appeal_window_and_arbitrators_cannot(client):
    policy = AppealPolicy.objects.get(platform="taobao")
    url = reverse("admin:arbitration_appealpolicy_changelist")
    logged_in(client, "arbitrator", "judge-9")
    assert (
        client.get(reverse("admin:arbitration_appealpolicy_change", args=[policy.pk])).status_code
        == 403
    )

    client.force_login(staff_user("ops", "ops-9"))
    policies = list(AppealPolicy.objects.order_by("platform"))
    data = {
        "form-TOTAL_FORMS": str(len(policies)),
        "form-INITIAL_FORMS": str(len(policies)),
        "_save": "Save",
    }
    for i, p in enumerate(policies):
        data[f"form-{i}-id"] = str(p.pk)
        data[f"form-{i}-window_days"] = "10" if p.pk == policy.pk else str(p.window_days)
    response = client.post(url, data)
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.window_days == 10

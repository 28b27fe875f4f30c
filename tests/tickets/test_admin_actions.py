"""Staff actions and views on the tickets admin: each calls a service and reports back."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arbitration.models import Violation
from arbitration.services.findings import evidence_mark_forged
from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    TicketFactory,
    UserFactory,
    make_evidence,
    replied_ticket,
    staff_user,
)
from tickets.models import (
    ExemptionRequest,
    Ticket,
    TicketEvent,
    TicketState,
)
from tickets.services.exemptions import exemption_request
from tickets.services.lifecycle import ticket_escalate

pytestmark = pytest.mark.django_db

T0 = TUESDAY_10_SHANGHAI  # ticket creation; Taobao due T0 + 24 h
SOON = T0 + timedelta(hours=1)

TICKETS_URL = "admin:tickets_ticket_changelist"
EVIDENCE_URL = "admin:tickets_evidence_changelist"
EXEMPTIONS_URL = "admin:tickets_exemptionrequest_changelist"


def escalated_ticket(**kwargs) -> Ticket:
    ticket = TicketFactory(**kwargs)
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


def snapshot(ticket) -> tuple:
    ticket = Ticket.objects.get(pk=ticket.pk)
    return (
        ticket.state,
        ticket.due_at,
        TicketEvent.objects.filter(ticket=ticket).count(),
        LogEntry.objects.count(),
    )


def action(client, url_name, name, objects, **extra):
    data = {"action": name, "_selected_action": [o.pk for o in objects], "index": 0}
    return client.post(reverse(url_name), data, follow=True, **extra)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def action_names(client, url_name) -> set[str]:
    form = client.get(reverse(url_name)).context["action_form"]
    # No action form at all when none of the admin's actions is allowed.
    return {name for name, _ in form.fields["action"].choices} if form else set()


def login(client, user):
    client.force_login(user)
    return client


# --- forged evidence ------------------------------------------------------------------


def forged_url(evidence) -> str:
    return reverse(
        "admin:arbitration_escalatedticket_forged", args=[evidence.ticket_id, evidence.pk]
    )


def test_evidence_list_links_unmarked_files_to_the_mark_forged_page(client):
    # Marking forged needs a severity, a reason and a confirmation: no bulk action
    # does it without them (the page itself: tests/arbitration/test_admin_workspace.py).
    ticket = escalated_ticket()
    marked = make_evidence(ticket, "a.png", b"\x89PNG\r\n\x1a\n one")
    unmarked = make_evidence(ticket, "b.png", b"\x89PNG\r\n\x1a\n two")
    arbitrator = staff_user("arbitrator")
    evidence_mark_forged(evidence=marked, user=arbitrator, severity="general", note="PS痕迹")
    login(client, arbitrator)

    response = client.get(reverse(EVIDENCE_URL))

    body = response.content.decode()
    assert forged_url(unmarked) in body
    assert forged_url(marked) not in body
    assert body.count('alt="True"') == 1
    assert not {"mark_forged_general", "mark_forged_serious"} & action_names(client, EVIDENCE_URL)


def test_evidence_list_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries):
    arbitrator = staff_user("arbitrator")
    login(client, arbitrator)

    def add_rows(n):
        for _ in range(n):
            ticket = escalated_ticket()
            forged = make_evidence(ticket, f"{ticket.number}-a.png", ticket.number.encode())
            make_evidence(ticket, f"{ticket.number}-b.png", ticket.number.encode() + b"b")
            evidence_mark_forged(
                evidence=forged, user=arbitrator, severity="general", note="PS痕迹"
            )

    url = reverse(EVIDENCE_URL)
    add_rows(2)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    add_rows(2)
    # session, user, permissions (2), count x2, rows with ticket and forgery joined.
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert response.content.decode().count('alt="True"') == 4


def test_mark_forged_link_is_only_offered_to_arbitrators(client):
    ticket = escalated_ticket()
    evidence = make_evidence(ticket)
    login(client, staff_user("cs_agent"))

    assert forged_url(evidence) not in client.get(reverse(EVIDENCE_URL)).content.decode()
    response = client.post(
        forged_url(evidence), {"severity": "general", "note": "伪造", "confirmed": "1"}
    )
    assert response.status_code == 403
    assert not Violation.objects.exists()

    login(client, staff_user("arbitrator"))
    assert forged_url(evidence) in client.get(reverse(EVIDENCE_URL)).content.decode()


def test_staff_download_evidence_as_an_attachment(client):
    ticket = escalated_ticket()
    evidence = make_evidence(ticket, "聊天记录.png", b"\x89PNG\r\n\x1a\n chat")
    url = reverse("admin:tickets_evidence_download", args=[evidence.pk])
    login(client, staff_user("arbitrator"))

    assert url in client.get(reverse(EVIDENCE_URL)).content.decode()
    response = client.get(url)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x89PNG\r\n\x1a\n chat"
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment;")
    assert (
        "filename*=utf-8''%E8%81%8A%E5%A4%A9%E8%AE%B0%E5%BD%95.png"
        in (response["Content-Disposition"])
    )


def test_merchants_cannot_download_through_the_admin(client):
    ticket = escalated_ticket()
    evidence = make_evidence(ticket)
    url = reverse("admin:tickets_evidence_download", args=[evidence.pk])

    # the store's own merchant is not staff: sent to the admin login
    login(client, MembershipFactory(store=ticket.store).user)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))

    # staff without the evidence view permission: refused
    login(client, UserFactory(username="bare-staff", is_staff=True))
    assert client.get(url).status_code == 403


# --- exemptions -----------------------------------------------------------------------


def requested(ticket, minutes=120) -> ExemptionRequest:
    member = MembershipFactory(store=ticket.store)
    return exemption_request(
        ticket=ticket, user=member.user, reason="园区停电", minutes=minutes, now=ticket.created_at
    )


def decide_url(exemption) -> str:
    return reverse("admin:tickets_exemptionrequest_decide", args=[exemption.pk])


def test_exemptions_list_pending_first(client):
    ops = staff_user("ops")
    decided = requested(TicketFactory(number="DECIDED", created_at=T0 - timedelta(hours=1)))
    requested(TicketFactory(number="WAITING"))
    login(client, ops)
    client.post(decide_url(decided), {"decision": "reject", "note": "无证明"})

    response = client.get(reverse(EXEMPTIONS_URL))

    assert [str(r.ticket) for r in response.context["cl"].result_list] == ["WAITING", "DECIDED"]
    response = client.get(reverse(EXEMPTIONS_URL), {"status__exact": "pending"})
    assert [str(r.ticket) for r in response.context["cl"].result_list] == ["WAITING"]


def test_ops_grant_an_exemption_by_the_requested_amount_by_default(client):
    ticket = TicketFactory()
    exemption = requested(ticket, minutes=120)
    ops = staff_user("ops")
    login(client, ops)

    page = client.get(decide_url(exemption))
    assert page.status_code == 200
    assert page.context["form"]["minutes"].value() == 120

    response = client.post(decide_url(exemption), {"decision": "grant", "minutes": "", "note": ""})

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.due_at == T0 + timedelta(hours=26)
    exemption.refresh_from_db()
    assert (exemption.status, exemption.granted_minutes) == ("granted", 120)
    assert LogEntry.objects.filter(user=ops, object_id=str(exemption.pk)).exists()


def test_ops_may_grant_less_than_asked(client):
    ticket = TicketFactory()
    exemption = requested(ticket, minutes=240)
    login(client, staff_user("ops"))
    client.post(decide_url(exemption), {"decision": "grant", "minutes": "60", "note": "属实"})
    ticket.refresh_from_db()
    assert ticket.due_at == T0 + timedelta(hours=25)


def test_rejection_needs_a_note(client):
    ticket = TicketFactory()
    exemption = requested(ticket)
    login(client, staff_user("ops"))
    before = snapshot(ticket)

    response = client.post(decide_url(exemption), {"decision": "reject", "note": "  "})

    assert response.status_code == 200
    assert response.context["form"].errors["note"] == [
        "Tell the store why the request is rejected."
    ]
    assert snapshot(ticket) == before
    exemption.refresh_from_db()
    assert exemption.status == ExemptionRequest.Status.PENDING

    client.post(decide_url(exemption), {"decision": "reject", "note": "未提供停电证明"})
    exemption.refresh_from_db()
    assert (exemption.status, exemption.decision_note) == ("rejected", "未提供停电证明")
    ticket.refresh_from_db()
    assert ticket.due_at == T0 + timedelta(hours=24)


def test_a_grant_the_service_refuses_is_shown_and_changes_nothing(client):
    ticket = TicketFactory()
    exemption = requested(ticket)
    login(client, staff_user("ops"))
    before = snapshot(ticket)

    response = client.post(decide_url(exemption), {"decision": "grant", "minutes": "0"})

    assert response.context["form"].errors["minutes"] == ["Grant between 1 minute and 7 days."]
    assert snapshot(ticket) == before


def test_only_ops_decide_exemptions(client):
    ticket = TicketFactory()
    exemption = requested(ticket)
    login(client, staff_user("arbitrator"))
    assert client.get(decide_url(exemption)).status_code == 403
    assert client.post(decide_url(exemption), {"decision": "grant"}).status_code == 403
    exemption.refresh_from_db()
    assert exemption.status == ExemptionRequest.Status.PENDING


# --- confirm (CS) ---------------------------------------------------------------------


def test_cs_confirms_selected_replies(client):
    settled = replied_ticket()
    still_open = TicketFactory()
    cs = staff_user("cs_agent")
    login(client, cs)

    response = action(client, TICKETS_URL, "confirm_selected", [settled, still_open])

    settled.refresh_from_db()
    assert settled.state == TicketState.CLOSED
    assert TicketEvent.objects.filter(ticket=settled, action="confirmed", actor=cs).exists()
    assert Ticket.objects.get(pk=still_open.pk).state == TicketState.OPEN
    assert sorted(messages_of(response)) == sorted(
        [
            "1 ticket confirmed and closed.",
            f"{still_open.number}: Ticket {still_open.number} is Open; this needs it Replied.",
        ]
    )
    assert LogEntry.objects.filter(user=cs, object_id=str(settled.pk)).exists()


def test_confirm_is_not_offered_without_the_permission(client):
    settled = replied_ticket()
    login(client, staff_user("arbitrator"))
    before = snapshot(settled)

    assert "confirm_selected" not in action_names(client, TICKETS_URL)
    action(client, TICKETS_URL, "confirm_selected", [settled])

    assert snapshot(settled) == before


# --- escalate (CS, consumer objects) --------------------------------------------------


def escalate_url(ticket) -> str:
    return reverse("admin:tickets_ticket_escalate", args=[ticket.pk])


def test_ticket_page_links_to_escalation_for_cs_only(client):
    ticket = replied_ticket()
    change = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    login(client, staff_user("cs_agent"))
    body = client.get(change).content.decode()
    assert escalate_url(ticket) in body
    assert "Ticket events" in body  # the timeline inline is still there

    login(client, staff_user("arbitrator"))
    assert escalate_url(ticket) not in client.get(change).content.decode()


def test_cs_escalates_when_the_consumer_objects(client):
    ticket = replied_ticket()
    cs = staff_user("cs_agent")
    login(client, cs)
    assert client.get(escalate_url(ticket)).status_code == 200

    response = client.post(escalate_url(ticket), {"reason": "买家不认可协商结果"})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:tickets_ticket_change", args=[ticket.pk])
    ticket.refresh_from_db()
    assert ticket.state == TicketState.ESCALATED
    event = TicketEvent.objects.get(ticket=ticket, action="escalated")
    assert (event.actor, event.reason) == (cs, "买家不认可协商结果")
    assert LogEntry.objects.filter(user=cs, object_id=str(ticket.pk)).exists()


def test_escalation_without_a_reason_is_refused_on_the_form(client):
    ticket = replied_ticket()
    login(client, staff_user("cs_agent"))
    before = snapshot(ticket)

    response = client.post(escalate_url(ticket), {"reason": ""})

    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == ["Say why the consumer objects."]
    assert snapshot(ticket) == before


@time_machine.travel(SOON, tick=False)
def test_open_ticket_is_not_escalated_before_its_deadline(client):
    ticket = TicketFactory()
    login(client, staff_user("cs_agent"))
    before = snapshot(ticket)

    response = client.post(escalate_url(ticket), {"reason": "买家投诉"})

    assert response.status_code == 200
    assert "The merchant still has time to reply until the deadline." in str(
        response.context["form"].non_field_errors()
    )
    assert snapshot(ticket) == before


def test_escalation_needs_the_permission(client):
    ticket = replied_ticket()
    login(client, staff_user("arbitrator"))
    before = snapshot(ticket)
    assert client.get(escalate_url(ticket)).status_code == 403
    assert client.post(escalate_url(ticket), {"reason": "x"}).status_code == 403
    assert snapshot(ticket) == before

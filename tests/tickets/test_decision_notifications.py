"""The platform's decisions reach the merchant: a judgment, a forged-evidence finding,
an exemption granted or rejected, CS's confirmation and the consumer's objection each
write one bell notification (plus an email and/or a group-bot message as the store has
set up) and show in the ticket's timeline with the platform's reasoning."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from arbitration.services.decisions import ticket_judge
from arbitration.services.exemptions import exemption_grant, exemption_reject
from arbitration.services.findings import evidence_mark_forged
from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    make_evidence,
    staff_user,
)
from tests.tickets.test_notifications import FakeBot
from tickets.dashboard_selectors import notifications_unread_count
from tickets.models import (
    Delivery,
    ExemptionRequest,
    Notification,
    ReplyOption,
    Ticket,
    TicketEvent,
    TicketState,
)
from tickets.selectors import ticket_detail, timeline_entries
from tickets.services.contacts import contact_log
from tickets.services.exemptions import exemption_request
from tickets.services.lifecycle import ticket_confirm, ticket_escalate, ticket_reply
from tickets.services.notifications import ticket_link
from tickets.services.sweeps import AUTO_CONFIRM_AFTER, sweep_run

pytestmark = pytest.mark.django_db

T0 = TUESDAY_10_SHANGHAI  # created Tue 10:00 Beijing time; Taobao due Wed 10:00
NOW = T0 + timedelta(hours=2)  # Tue 12:00, still open
AFTER_DUE = T0 + timedelta(hours=25)  # Wed 11:00, escalated and decided

REASONING = "商家未在时限内回复，视为放弃举证"
FORGED_NOTE = "截图有PS痕迹"
FORGED_FILE = "聊天截图.png"
GRANT_NOTE = "园区停电属实"
REJECT_NOTE = "停电发生在截止之后"
OBJECTION = "买家称未收到补发商品"

CHANNELS = {
    "neither": ({}, set()),
    "email": ({"after_sales_email": "after-sales@example.com"}, {"email"}),
    "bot": ({"bot_kind": "wecom", "bot_url": "http://127.0.0.1:9/hook"}, {"webhook"}),
    "both": (
        {
            "after_sales_email": "after-sales@example.com",
            "bot_kind": "dingtalk",
            "bot_url": "http://127.0.0.1:9/hook",
        },
        {"email", "webhook"},
    ),
}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(AFTER_DUE + timedelta(hours=1), tick=False):
        yield


# --- the way to each decision ----------------------------------------------------------


def member_of(store):
    return MembershipFactory(store=store, role="staff")


def escalated(store):
    ticket = TicketFactory(store=store)
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


def replied(store):
    ticket = TicketFactory(store=store)
    user = member_of(store).user
    contact_log(
        ticket=ticket, user=user, channel="phone", attempted_at=T0 + timedelta(minutes=30), now=NOW
    )
    return ticket_reply(
        ticket=ticket,
        user=user,
        option=ReplyOption.objects.get(platform=store.platform, code="settled"),
        agreed_at=T0 + timedelta(hours=1),
        now=NOW,
    )


def requested(store):
    ticket = TicketFactory(store=store)
    return exemption_request(
        ticket=ticket, user=member_of(store).user, reason="园区停电", minutes=90, now=NOW
    )


def judge(ticket, **kwargs):
    kwargs = {"merchant_liable": True, "refund_amount": "59.90", "reasoning": REASONING} | kwargs
    return ticket_judge(ticket=ticket, user=staff_user("arbitrator"), now=AFTER_DUE, **kwargs)


def mark_forged(evidence, **kwargs):
    kwargs = {"severity": "serious", "note": FORGED_NOTE} | kwargs
    return evidence_mark_forged(
        evidence=evidence, user=staff_user("arbitrator"), now=AFTER_DUE, **kwargs
    )


def grant(request, **kwargs):
    return exemption_grant(
        request=request, user=staff_user("ops"), minutes=90, note=GRANT_NOTE, now=NOW, **kwargs
    )


def reject(request, note=REJECT_NOTE):
    return exemption_reject(request=request, user=staff_user("ops"), note=note, now=NOW)


def confirm(ticket):
    return ticket_confirm(ticket=ticket, user=staff_user("cs_agent"), now=NOW + timedelta(hours=1))


def object_(ticket, reason=OBJECTION):
    return ticket_escalate(
        ticket=ticket, user=staff_user("cs_agent"), reason=reason, now=NOW + timedelta(hours=1)
    )


def decide_judged(store):
    ticket = escalated(store)
    judge(ticket)
    return ticket, ["merchant liable", "59.90", REASONING]


def decide_forged(store):
    evidence = make_evidence(TicketFactory(store=store), name=FORGED_FILE)
    mark_forged(evidence)
    return evidence.ticket, [FORGED_FILE, "48", FORGED_NOTE]


def decide_granted(store):
    request = requested(store)
    grant(request)
    # Wed 10:00 + 90 minutes, Beijing time (03:30 UTC).
    return request.ticket, ["2026-11-25 11:30", "(Beijing time)", GRANT_NOTE]


def decide_rejected(store):
    request = requested(store)
    reject(request)
    return request.ticket, [REJECT_NOTE, "2026-11-25 10:00"]


def decide_confirmed(store):
    ticket = replied(store)
    confirm(ticket)
    return ticket, ["confirmed"]


def decide_objected(store):
    ticket = replied(store)
    object_(ticket)
    return ticket, [OBJECTION]


DECISIONS = {
    "judged": decide_judged,
    "forged": decide_forged,
    "exemption": decide_granted,
    "exemption-rejected": decide_rejected,
    "confirmed": decide_confirmed,
    "objected": decide_objected,
}


def new_since(model, last_pk: int):
    return model.objects.filter(pk__gt=last_pk).order_by("pk")


def last_pk(model) -> int:
    return model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


# --- each decision: one notification, the store's channels ---------------------------


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("decision", DECISIONS)
def test_each_decision_notifies_the_store_once_on_its_channels(decision, channels):
    settings, expected_channels = CHANNELS[channels]
    store = StoreFactory(**settings)
    # The set-up (escalating, replying, requesting) notifies on its own; count from
    # the decision on by watching the ids. The decision is taken right after it.
    decide = DECISIONS[decision]
    notifications_before = last_pk(Notification)
    deliveries_before = last_pk(Delivery)

    ticket, expected_texts = decide(store)

    notifications = [
        n for n in new_since(Notification, notifications_before) if n.kind != "escalated"
    ]
    assert len(notifications) == 1
    (notification,) = notifications
    assert notification.kind == decision.removesuffix("-rejected")
    assert (notification.store, notification.ticket, notification.recipient) == (
        store,
        ticket,
        None,
    )
    text = f"{notification.title} {notification.body}"
    for expected in expected_texts:
        assert expected.lower() in text.lower()

    deliveries = list(new_since(Delivery, deliveries_before))
    assert {d.channel for d in deliveries} == expected_channels
    for delivery in deliveries:
        assert delivery.key.startswith(f"{notification.kind}:")
        assert delivery.key.endswith(f":{delivery.channel}")
        assert (delivery.store, delivery.ticket) == (store, ticket)
        assert (delivery.subject, delivery.body) == (notification.title, notification.body)
        assert delivery.link == ticket_link(ticket.pk)
        assert (delivery.status, delivery.attempts) == ("pending", 0)


def test_a_judgment_of_no_liability_says_so():
    store = StoreFactory()
    ticket = escalated(store)
    judge(ticket, merchant_liable=False, refund_amount="0")
    notification = Notification.objects.get(ticket=ticket, kind="judged")
    assert "merchant not liable" in notification.title
    assert "0.00 CNY" in notification.title
    assert REASONING in notification.body
    (row,) = [
        row
        for row in timeline_entries(ticket=ticket_detail(ticket_id=ticket.pk, store=store))
        if row.action == "judged"
    ]
    assert row.details == ("The merchant is not liable", "Refund: 0.00 CNY")


def test_the_objection_replaces_the_generic_escalation_notice():
    # The consumer's objection is its own notice, with the reason; the store does not
    # also get "escalated: the reply deadline was …", which is untrue of a reply.
    ticket = replied(StoreFactory())
    object_(ticket)
    assert list(ticket.notifications.values_list("kind", flat=True)) == ["objected"]
    event = TicketEvent.objects.get(ticket=ticket, action="escalated")
    assert event.payload["objection"] is True
    assert (event.from_state, event.to_state, event.reason) == ("replied", "escalated", OBJECTION)


def test_the_deadline_escalation_still_sends_its_own_notice():
    ticket = escalated(StoreFactory())
    assert list(ticket.notifications.values_list("kind", flat=True)) == ["escalated"]
    assert "objection" not in TicketEvent.objects.get(ticket=ticket, action="escalated").payload


def test_the_assignee_gets_the_notice_and_the_bell_counts_it():
    store = StoreFactory()
    assignee, colleague = member_of(store), member_of(store)
    ticket = escalated(store)
    Ticket.objects.filter(pk=ticket.pk).update(assignee=assignee.user)
    before = [notifications_unread_count(membership=m) for m in (assignee, colleague)]

    judge(ticket)

    notification = Notification.objects.get(ticket=ticket, kind="judged")
    assert notification.recipient == assignee.user
    # Like a reminder: the assignee's bell counts it, the colleague's does not.
    after = [notifications_unread_count(membership=m) for m in (assignee, colleague)]
    assert after == [before[0] + 1, before[1]]


def test_an_unassigned_tickets_notice_reaches_every_member():
    store = StoreFactory()
    members = [member_of(store), member_of(store)]
    ticket = escalated(store)
    before = [notifications_unread_count(membership=m) for m in members]
    judge(ticket)
    assert [notifications_unread_count(membership=m) for m in members] == [
        count + 1 for count in before
    ]


def test_the_new_due_time_is_beijing_time_whatever_zone_is_active():
    request = requested(StoreFactory())
    with timezone.override(ZoneInfo("UTC")):
        grant(request)
    notification = Notification.objects.get(ticket=request.ticket, kind="exemption")
    assert "2026-11-25 11:30" in notification.title
    assert "2026-11-25 11:30 (Beijing time)" in notification.body
    assert "03:30" not in notification.title + notification.body


def test_a_long_file_name_is_cut_to_the_title_length_but_kept_in_the_body():
    name = "证" * 240 + ".png"
    evidence = make_evidence(TicketFactory(store=StoreFactory(after_sales_email="a@b.cn")), name)
    mark_forged(evidence)
    notification = Notification.objects.get(kind="forged")
    assert len(notification.title) == 200
    assert notification.title.endswith("…")
    assert name in notification.body
    assert Delivery.objects.get().subject == notification.title


def test_deliveries_are_sent_after_commit_with_the_reasoning(django_capture_on_commit_callbacks):
    bot = FakeBot()
    try:
        store = StoreFactory(
            after_sales_email="after-sales@example.com",
            bot_kind="wecom",
            bot_url=f"{bot.url}/cgi-bin/webhook/send?key=k1",
        )
        ticket = escalated(store)
        with django_capture_on_commit_callbacks() as callbacks:
            judge(ticket)
        # Nothing is sent inside the transaction; the after-commit announcement sends it.
        assert not mail.outbox and not bot.messages
        for callback in callbacks:
            callback()
    finally:
        bot.close()
    assert set(Delivery.objects.filter(ticket=ticket).values_list("status", flat=True)) == {"sent"}
    (message,) = mail.outbox
    assert message.to == ["after-sales@example.com"]
    assert "merchant liable" in message.subject and REASONING in message.body
    assert ticket_link(ticket.pk) in message.body
    ((_, payload),) = bot.messages
    assert REASONING in payload["markdown"]["content"]


# --- refusals and silence --------------------------------------------------------------


def counts(ticket) -> tuple:
    ticket = Ticket.objects.get(pk=ticket.pk)
    return (
        ticket.state,
        ticket.due_at,
        TicketEvent.objects.filter(ticket=ticket).count(),
        Notification.objects.count(),
        Delivery.objects.count(),
        tuple(ExemptionRequest.objects.filter(ticket=ticket).values_list("status", flat=True)),
    )


def refuse_judge_open(store):
    ticket = TicketFactory(store=store)
    return ticket, lambda: judge(ticket)


def refuse_judge_worry_free(store):
    ticket = escalated(store)
    Ticket.objects.filter(pk=ticket.pk).update(worry_free=True)
    return ticket, lambda: judge(ticket)


def refuse_forged_twice(store):
    evidence = make_evidence(TicketFactory(store=store), name=FORGED_FILE)
    mark_forged(evidence)
    return evidence.ticket, lambda: mark_forged(evidence, severity="general")


def refuse_grant_escalated(store):
    request = requested(store)
    ticket_escalate(ticket=request.ticket, user=None, now=request.ticket.due_at)
    return request.ticket, lambda: grant(request)


def refuse_reject_without_note(store):
    request = requested(store)
    return request.ticket, lambda: reject(request, note="  ")


def refuse_decided_twice(store):
    request = requested(store)
    reject(request)
    return request.ticket, lambda: grant(request)


def refuse_confirm_open(store):
    ticket = TicketFactory(store=store)
    return ticket, lambda: confirm(ticket)


def refuse_objection_without_reason(store):
    ticket = replied(store)
    return ticket, lambda: object_(ticket, reason=" ")


REFUSALS = {
    "judge an open ticket": refuse_judge_open,
    "judge a worry-free ticket": refuse_judge_worry_free,
    "mark a file forged twice": refuse_forged_twice,
    "grant on an escalated ticket": refuse_grant_escalated,
    "reject without a note": refuse_reject_without_note,
    "decide an exemption twice": refuse_decided_twice,
    "confirm an open ticket": refuse_confirm_open,
    "object without a reason": refuse_objection_without_reason,
}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_refused_decision_notifies_nobody_and_changes_nothing(refusal):
    store = StoreFactory(**CHANNELS["both"][0])
    ticket, attempt = REFUSALS[refusal](store)
    before = counts(ticket)
    with pytest.raises(ValidationError):
        attempt()
    assert counts(ticket) == before


def test_the_sweeps_auto_confirmation_stays_silent():
    store = StoreFactory(**CHANNELS["both"][0])
    ticket = replied(store)
    before = (Notification.objects.count(), Delivery.objects.count())

    sweep_run(now=NOW + AUTO_CONFIRM_AFTER)

    ticket.refresh_from_db()
    assert ticket.state == TicketState.CLOSED
    assert TicketEvent.objects.get(ticket=ticket, action="confirmed").actor is None
    assert (Notification.objects.count(), Delivery.objects.count()) == before
    assert not Notification.objects.filter(kind="confirmed").exists()


def test_the_systems_confirmation_stays_silent():
    ticket = replied(StoreFactory(**CHANNELS["both"][0]))
    ticket_confirm(ticket=ticket, user=None, now=NOW + timedelta(hours=1))
    assert Ticket.objects.get(pk=ticket.pk).state == TicketState.CLOSED
    assert not Notification.objects.filter(kind="confirmed").exists()
    assert not Delivery.objects.exists()


# --- the timeline ----------------------------------------------------------------------


@pytest.fixture
def decided(client):
    """A ticket with every decision the platform can take on one ticket's way:
    an exemption rejected then granted, forged evidence, escalation, a judgment."""
    membership = MembershipFactory(role="owner")
    client.force_login(membership.user)
    store = membership.store
    ticket = TicketFactory(store=store)
    first = exemption_request(
        ticket=ticket, user=membership.user, reason="停电", minutes=30, now=NOW
    )
    reject(first)
    second = exemption_request(
        ticket=ticket, user=membership.user, reason="园区停电", minutes=90, now=NOW
    )
    grant(second)
    evidence = make_evidence(ticket, name=FORGED_FILE)
    mark_forged(evidence)
    ticket.refresh_from_db()
    ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)
    judge(ticket)
    return membership, ticket


def test_timeline_rows_carry_the_decisions_details(decided):
    membership, ticket = decided
    rows = {
        row.action: row
        for row in timeline_entries(ticket=ticket_detail(ticket_id=ticket.pk, store=ticket.store))
    }
    judged = rows["judged"]
    assert judged.details == ("The merchant is liable", "Refund: 59.90 CNY")
    assert judged.reason == f"The platform's reasoning: {REASONING}"
    assert judged.change == "Escalated → Judged"
    assert judged.actor == "arbitrator-staff"

    forged = rows["evidence_forged"]
    assert forged.details == (
        "Serious violation (严重违规)",
        "48 violation points on the store",
        f"File: {FORGED_FILE}",
    )
    assert forged.reason == f"The platform's reasoning: {FORGED_NOTE}"

    granted = rows["exemption_granted"]
    assert granted.details == (
        "Granted: 90 minutes",
        "New due time: 2026-11-25 11:30 (Beijing time)",
    )
    assert granted.reason == f"The platform's note: {GRANT_NOTE}"

    assert rows["exemption_rejected"].reason == f"The platform's reasoning: {REJECT_NOTE}"
    # The deadline escalation keeps its plain reason: it is not an objection.
    assert not rows["escalated"].reason.startswith("The consumer's objection")


def test_objection_and_confirmation_in_the_timeline():
    store = StoreFactory()
    objected, confirmed = replied(store), replied(store)
    object_(objected)
    confirm(confirmed)

    def rows(ticket):
        detail = ticket_detail(ticket_id=ticket.pk, store=store)
        return {row.action: row for row in timeline_entries(ticket=detail)}

    escalation = rows(objected)["escalated"]
    assert escalation.reason == f"The consumer's objection: {OBJECTION}"
    assert escalation.change == "Replied → Escalated"
    confirmation = rows(confirmed)["confirmed"]
    assert (confirmation.change, confirmation.actor) == ("Replied → Closed", "cs_agent-staff")


def test_the_ticket_page_shows_the_decisions_with_the_reasoning(client, decided):
    membership, ticket = decided
    html = client.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()
    timeline = html[html.index('id="timeline"') :]
    for text in (
        "The merchant is liable",
        "Refund: 59.90 CNY",
        f"The platform&#x27;s reasoning: {REASONING}",
        "48 violation points on the store",
        f"File: {FORGED_FILE}",
        "New due time: 2026-11-25 11:30 (Beijing time)",
        f"The platform&#x27;s note: {GRANT_NOTE}",
        f"The platform&#x27;s reasoning: {REJECT_NOTE}",
    ):
        assert text in timeline, text


def test_the_ticket_page_query_count_does_not_grow_with_decisions(
    client, decided, django_assert_max_num_queries
):
    membership, ticket = decided
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("ticket_detail", args=[ticket.pk]))
    for i in range(3):
        mark_forged(make_evidence(ticket, name=f"forged-{i}.png", content=b"\x89PNG" + bytes([i])))
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()
    assert "File: forged-2.png" in html


@pytest.mark.parametrize("decide", ["judge", "grant", "reject", "object"])
def test_notices_are_in_the_merchants_language_whatever_the_staff_admin_uses(settings, decide):
    from django.utils import translation

    settings.LANGUAGE_CODE = "zh-hans"
    store = StoreFactory(after_sales_email="shop@example.com")
    with translation.override("en"):  # the arbitrator's admin is in English
        if decide == "judge":
            judge(escalated(store))
        elif decide == "grant":
            grant(requested(store))
        elif decide == "reject":
            reject(requested(store))
        else:
            object_(replied(store))
    decisions = ["judged", "exemption", "objected"]
    notice = Notification.objects.get(store=store, kind__in=decisions)
    assert notice.title.startswith("工单"), notice.title
    delivery = Delivery.objects.get(store=store, key__startswith=notice.kind)
    assert "平台" in delivery.body, delivery.body

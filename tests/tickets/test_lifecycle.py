"""Every transition and every refusal; a refusal also proves nothing changed."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    UserFactory,
    staff_user,
)
from tickets.models import (
    ContactAttempt,
    ExemptionRequest,
    Reply,
    ReplyOption,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketState,
)
from tickets.services import common
from tickets.services.contacts import contact_log
from tickets.services.exemptions import exemption_request
from tickets.services.lifecycle import ticket_confirm, ticket_escalate, ticket_reply

pytestmark = pytest.mark.django_db

T0 = TUESDAY_10_SHANGHAI  # ticket creation; Taobao due T0 + 24 h
SOON = T0 + timedelta(hours=1)


def option(platform: str, code: str) -> ReplyOption:
    return ReplyOption.objects.get(platform=platform, code=code)


def snapshot(ticket: Ticket) -> tuple:
    """What a refused call must leave exactly as it was."""
    ticket = Ticket.objects.get(pk=ticket.pk)
    return (
        ticket.state,
        ticket.due_at,
        ticket.escalated_at,
        TicketEvent.objects.filter(ticket=ticket).count(),
        Reply.objects.filter(ticket=ticket).count(),
        ContactAttempt.objects.filter(ticket=ticket).count(),
        ExemptionRequest.objects.filter(ticket=ticket).count(),
    )


@pytest.fixture
def member():
    return MembershipFactory()


@pytest.fixture
def ticket(member):
    return TicketFactory(store=member.store)


def contacted(ticket, user, times=1, at=SOON):
    for i in range(times):
        contact_log(
            ticket=ticket,
            user=user,
            channel="phone",
            attempted_at=at + timedelta(minutes=i),
            now=at,
        )


def replied(ticket, user, code="settled"):
    contacted(ticket, user)
    return ticket_reply(
        ticket=ticket,
        user=user,
        option=option(ticket.store.platform, code),
        remark="已与买家协商补发",
        agreed_at=SOON,
        now=SOON + timedelta(minutes=30),
    )


def escalated(ticket):
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


# --- contact attempts -----------------------------------------------------------------


def test_contact_after_creation_counts(ticket, member):
    contact = contact_log(
        ticket=ticket, user=member.user, channel="wangwang", attempted_at=SOON, now=SOON
    )
    assert contact.counts is True
    event = TicketEvent.objects.get(ticket=ticket, action="contact_logged")
    assert event.payload["counts"] is True and event.actor == member.user


def test_contact_before_creation_is_kept_but_flagged(ticket, member):
    contact = contact_log(
        ticket=ticket,
        user=member.user,
        channel="phone",
        attempted_at=T0 - timedelta(minutes=5),
        now=SOON,
    )
    assert contact.counts is False
    assert ContactAttempt.objects.filter(pk=contact.pk, counts=False).exists()


def test_contact_in_the_future_is_refused(ticket, member):
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as excinfo:
        contact_log(
            ticket=ticket,
            user=member.user,
            channel="phone",
            attempted_at=SOON + timedelta(hours=1),
            now=SOON,
        )
    assert "attempted_at" in excinfo.value.error_dict
    assert snapshot(ticket) == before


def test_contact_for_another_store_is_refused(ticket):
    outsider = MembershipFactory().user
    before = snapshot(ticket)
    with pytest.raises(PermissionDenied):
        contact_log(ticket=ticket, user=outsider, channel="phone", attempted_at=SOON, now=SOON)
    assert snapshot(ticket) == before


def test_contact_with_unknown_channel_is_refused(ticket, member):
    before = snapshot(ticket)
    with pytest.raises(ValidationError):
        contact_log(ticket=ticket, user=member.user, channel="pigeon", attempted_at=SOON, now=SOON)
    assert snapshot(ticket) == before


# --- reply ----------------------------------------------------------------------------


def test_settled_reply_moves_open_to_replied(ticket, member):
    ticket = replied(ticket, member.user)
    assert ticket.state == TicketState.REPLIED
    reply = Reply.objects.get(ticket=ticket)
    assert (reply.option.code, reply.settles, reply.replied_by) == ("settled", True, member.user)
    event = TicketEvent.objects.get(ticket=ticket, action="replied")
    assert (event.from_state, event.to_state, event.actor) == ("open", "replied", member.user)


def test_reply_after_the_deadline_is_refused(ticket, member):
    contacted(ticket, member.user)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_reply(
            ticket=ticket,
            user=member.user,
            option=option("taobao", "settled"),
            agreed_at=SOON,
            now=ticket.due_at,
        )
    assert excinfo.value.code == "past_due"
    assert snapshot(ticket) == before


def test_reply_by_another_store_is_refused(ticket, member):
    contacted(ticket, member.user)
    outsider = MembershipFactory().user
    before = snapshot(ticket)
    with pytest.raises(PermissionDenied):
        ticket_reply(
            ticket=ticket,
            user=outsider,
            option=option("taobao", "settled"),
            agreed_at=SOON,
            now=SOON,
        )
    assert snapshot(ticket) == before


def test_reply_needs_a_contact_made_after_creation(ticket, member):
    contact_log(
        ticket=ticket,
        user=member.user,
        channel="phone",
        attempted_at=T0 - timedelta(hours=1),
        now=SOON,
    )
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_reply(
            ticket=ticket,
            user=member.user,
            option=option("taobao", "settled"),
            agreed_at=SOON,
            now=SOON,
        )
    assert excinfo.value.error_dict["contacts"][0].code == "contacts_required"
    assert snapshot(ticket) == before


def test_unreachable_needs_two_counting_attempts_and_escalates_at_once(ticket, member):
    contacted(ticket, member.user, times=1)
    with pytest.raises(ValidationError) as excinfo:
        ticket_reply(
            ticket=ticket, user=member.user, option=option("taobao", "unreachable"), now=SOON
        )
    assert "2 contact attempt" in excinfo.value.error_dict["contacts"][0].message % {}
    contacted(ticket, member.user, times=1, at=SOON + timedelta(minutes=10))

    ticket = ticket_reply(
        ticket=ticket,
        user=member.user,
        option=option("taobao", "unreachable"),
        now=SOON + timedelta(minutes=20),
    )

    assert ticket.state == TicketState.ESCALATED
    assert ticket.escalated_at == SOON + timedelta(minutes=20)
    actions = list(
        TicketEvent.objects.filter(ticket=ticket)
        .exclude(action="contact_logged")
        .values_list("action", "to_state")
    )
    assert actions == [("replied", "replied"), ("escalated", "escalated")]


def test_disagrees_escalates_at_once(ticket, member):
    ticket = replied(ticket, member.user, code="disagrees")
    assert ticket.state == TicketState.ESCALATED


def test_other_needs_a_remark(ticket, member):
    contacted(ticket, member.user)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_reply(
            ticket=ticket, user=member.user, option=option("taobao", "other"), remark="  ", now=SOON
        )
    assert excinfo.value.error_dict["remark"][0].code == "remark_required"
    assert snapshot(ticket) == before


def test_settled_needs_the_agreement_time_within_the_ticket_life(ticket, member):
    contacted(ticket, member.user)
    before = snapshot(ticket)
    for agreed_at, code in [
        (None, "agreed_at_required"),
        (T0 - timedelta(hours=1), "agreed_at_invalid"),
    ]:
        with pytest.raises(ValidationError) as excinfo:
            ticket_reply(
                ticket=ticket,
                user=member.user,
                option=option("taobao", "settled"),
                agreed_at=agreed_at,
                now=SOON,
            )
        assert excinfo.value.error_dict["agreed_at"][0].code == code
    assert snapshot(ticket) == before


def test_free_text_is_jd_only(member):
    jd_member = MembershipFactory(store=StoreFactory(jd=True))
    jd_ticket = TicketFactory(store=jd_member.store)
    contacted(jd_ticket, jd_member.user)
    jd_ticket = ticket_reply(
        ticket=jd_ticket,
        user=jd_member.user,
        option=option("jd", "free_text"),
        remark="买家要求改地址，已修改",
        now=SOON,
    )
    assert jd_ticket.state == TicketState.REPLIED
    assert not ReplyOption.objects.filter(platform="taobao", code="free_text").exists()

    taobao_ticket = TicketFactory(store=member.store)
    contacted(taobao_ticket, member.user)
    before = snapshot(taobao_ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_reply(
            ticket=taobao_ticket,
            user=member.user,
            option=option("jd", "free_text"),
            remark="x",
            now=SOON,
        )
    assert "option" in excinfo.value.error_dict
    assert snapshot(taobao_ticket) == before


def test_second_reply_is_refused(ticket, member):
    ticket = replied(ticket, member.user)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_reply(
            ticket=ticket,
            user=member.user,
            option=option("taobao", "settled"),
            agreed_at=SOON,
            now=SOON + timedelta(hours=1),
        )
    assert excinfo.value.code == "wrong_state"
    assert snapshot(ticket) == before


def test_transition_and_event_commit_together_or_not_at_all(ticket, member):
    contacted(ticket, member.user)
    before = snapshot(ticket)
    real = common.ticket_event_write

    def failing(**kwargs):
        if kwargs["action"] == "replied":
            raise RuntimeError("disk full")
        return real(**kwargs)

    with (
        mock.patch.object(common, "ticket_event_write", side_effect=failing),
        pytest.raises(RuntimeError),
    ):
        ticket_reply(
            ticket=ticket,
            user=member.user,
            option=option("taobao", "settled"),
            agreed_at=SOON,
            now=SOON,
        )
    assert snapshot(ticket) == before


# --- confirm --------------------------------------------------------------------------


def test_cs_confirms_a_replied_ticket(ticket, member):
    ticket = replied(ticket, member.user)
    cs = staff_user("cs_agent")
    ticket = ticket_confirm(ticket=ticket, user=cs, now=SOON + timedelta(hours=2))
    assert ticket.state == TicketState.CLOSED
    assert TicketEvent.objects.filter(ticket=ticket, action="confirmed", actor=cs).exists()


def test_merchant_cannot_confirm(ticket, member):
    ticket = replied(ticket, member.user)
    before = snapshot(ticket)
    with pytest.raises(PermissionDenied):
        ticket_confirm(ticket=ticket, user=member.user)
    assert snapshot(ticket) == before


def test_system_confirms_only_settled_replies(ticket, member):
    ticket = replied(ticket, member.user, code="other")
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_confirm(ticket=ticket, user=None)
    assert excinfo.value.code == "not_settled"
    assert snapshot(ticket) == before


def test_confirm_needs_a_replied_ticket(ticket):
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_confirm(ticket=ticket, user=staff_user("cs_agent"))
    assert excinfo.value.code == "wrong_state"
    assert snapshot(ticket) == before


# --- escalate -------------------------------------------------------------------------


def test_overdue_open_ticket_escalates_and_evidence_is_waived(ticket):
    ticket = ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)
    assert ticket.state == TicketState.ESCALATED
    event = TicketEvent.objects.get(ticket=ticket, action="escalated")
    assert event.actor is None
    assert event.payload["waived_evidence"] is True


def test_open_ticket_before_its_deadline_does_not_escalate(ticket):
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_escalate(ticket=ticket, user=None, now=ticket.due_at - timedelta(seconds=1))
    assert excinfo.value.code == "not_due"
    assert snapshot(ticket) == before


def test_cs_escalates_a_replied_ticket_when_the_consumer_objects(ticket, member):
    ticket = replied(ticket, member.user)
    cs = staff_user("cs_agent")
    with pytest.raises(ValidationError):
        ticket_escalate(ticket=ticket, user=cs, reason="")
    ticket = ticket_escalate(ticket=ticket, user=cs, reason="买家不认可协商结果")
    assert ticket.state == TicketState.ESCALATED
    event = TicketEvent.objects.get(ticket=ticket, action="escalated")
    assert (event.from_state, event.actor, event.payload["waived_evidence"]) == (
        "replied",
        cs,
        False,
    )


def test_system_cannot_escalate_a_replied_ticket(ticket, member):
    ticket = replied(ticket, member.user)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_escalate(ticket=ticket, user=None, now=ticket.due_at + timedelta(days=1))
    assert excinfo.value.code == "needs_cs"
    assert snapshot(ticket) == before


def test_merchant_cannot_escalate(ticket, member):
    before = snapshot(ticket)
    with pytest.raises(PermissionDenied):
        ticket_escalate(ticket=ticket, user=member.user, now=ticket.due_at)
    assert snapshot(ticket) == before


def test_escalated_ticket_cannot_escalate_again(ticket):
    ticket = escalated(ticket)
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)
    assert excinfo.value.code == "wrong_state"
    assert snapshot(ticket) == before


# --- exemption request (grant and reject are in tests/arbitration) --------------------


def test_exemption_request_is_recorded_once_at_a_time(ticket, member):
    request = exemption_request(
        ticket=ticket, user=member.user, reason="仓库停电", minutes=120, now=SOON
    )
    assert request.status == ExemptionRequest.Status.PENDING
    assert TicketEvent.objects.filter(ticket=ticket, action="exemption_requested").exists()
    before = snapshot(ticket)
    with pytest.raises(ValidationError) as excinfo:
        exemption_request(ticket=ticket, user=member.user, reason="again", minutes=60, now=SOON)
    assert excinfo.value.code == "exemption_pending"
    assert snapshot(ticket) == before


@pytest.mark.parametrize(("reason", "minutes"), [("", 60), ("停电", 0), ("停电", 7 * 24 * 60 + 1)])
def test_exemption_request_needs_a_reason_and_a_sane_length(ticket, member, reason, minutes):
    before = snapshot(ticket)
    with pytest.raises(ValidationError):
        exemption_request(ticket=ticket, user=member.user, reason=reason, minutes=minutes)
    assert snapshot(ticket) == before


def test_exemption_request_by_an_outsider_is_refused(ticket):
    before = snapshot(ticket)
    with pytest.raises(PermissionDenied):
        exemption_request(ticket=ticket, user=UserFactory(), reason="停电", minutes=60)
    assert snapshot(ticket) == before


def test_crc_ticket_kind_sorts_first():
    store = StoreFactory(jd=True)
    normal = TicketFactory(store=store, created_at=T0 - timedelta(hours=5))
    crc = TicketFactory(store=store, kind=TicketKind.CRC_HIGH_RISK)
    assert list(Ticket.objects.filter(store=store)) == [crc, normal]

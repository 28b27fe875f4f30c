"""Judgment, compensation, forged evidence and exemption decisions."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum

from arbitration.models import Compensation, Judgment, Violation
from arbitration.services.decisions import ticket_compensate, ticket_judge
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
from tickets.models import ExemptionRequest, Ticket, TicketEvent, TicketKind, TicketState
from tickets.services.exemptions import exemption_request
from tickets.services.lifecycle import ticket_escalate

pytestmark = pytest.mark.django_db


def escalated_ticket(**kwargs):
    ticket = TicketFactory(**kwargs)
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


def state_and_events(ticket):
    ticket = Ticket.objects.get(pk=ticket.pk)
    return ticket.state, ticket.due_at, TicketEvent.objects.filter(ticket=ticket).count()


# --- judge ----------------------------------------------------------------------------


def test_arbitrator_judges_an_escalated_ticket():
    ticket = escalated_ticket()
    arbitrator = staff_user("arbitrator")
    judgment = ticket_judge(
        ticket=ticket,
        user=arbitrator,
        merchant_liable=True,
        refund_amount="59.90",
        reasoning="商家未在时限内回复，视为放弃举证",
    )
    ticket.refresh_from_db()
    assert ticket.state == TicketState.JUDGED
    assert (judgment.merchant_liable, judgment.refund_amount) == (True, Decimal("59.90"))
    event = TicketEvent.objects.get(ticket=ticket, action="judged")
    assert (event.from_state, event.to_state, event.actor) == ("escalated", "judged", arbitrator)
    assert event.payload == {"merchant_liable": True, "refund_amount": "59.90"}


def test_worry_free_ticket_cannot_be_judged():
    ticket = escalated_ticket(worry_free=True)
    before = state_and_events(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_judge(
            ticket=ticket,
            user=staff_user("arbitrator"),
            merchant_liable=True,
            refund_amount="10",
            reasoning="x",
        )
    assert excinfo.value.code == "worry_free"
    assert state_and_events(ticket) == before
    assert not Judgment.objects.exists()


def test_only_escalated_tickets_are_judged():
    ticket = TicketFactory()
    before = state_and_events(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_judge(
            ticket=ticket,
            user=staff_user("arbitrator"),
            merchant_liable=False,
            refund_amount="0",
            reasoning="x",
        )
    assert excinfo.value.code == "wrong_state"
    assert state_and_events(ticket) == before


@pytest.mark.parametrize("role", ["cs_agent", "ops"])
def test_only_arbitrators_judge(role):
    ticket = escalated_ticket()
    before = state_and_events(ticket)
    with pytest.raises(PermissionDenied):
        ticket_judge(
            ticket=ticket,
            user=staff_user(role),
            merchant_liable=True,
            refund_amount="1",
            reasoning="x",
        )
    assert state_and_events(ticket) == before


@pytest.mark.parametrize("amount", ["-1", "abc", "1.001", "NaN"])
def test_judgment_amount_must_be_money(amount):
    ticket = escalated_ticket()
    before = state_and_events(ticket)
    with pytest.raises(ValidationError):
        ticket_judge(
            ticket=ticket,
            user=staff_user("arbitrator"),
            merchant_liable=True,
            refund_amount=amount,
            reasoning="x",
        )
    assert state_and_events(ticket) == before


def test_judgment_needs_reasoning():
    ticket = escalated_ticket()
    before = state_and_events(ticket)
    with pytest.raises(ValidationError):
        ticket_judge(
            ticket=ticket,
            user=staff_user("arbitrator"),
            merchant_liable=True,
            refund_amount="1",
            reasoning="  ",
        )
    assert state_and_events(ticket) == before


# --- compensate -----------------------------------------------------------------------


def test_worry_free_ticket_is_closed_by_compensation():
    ticket = escalated_ticket(worry_free=True)
    compensation = ticket_compensate(
        ticket=ticket, user=staff_user("arbitrator"), amount="20.00", note="无忧购标准赔付"
    )
    ticket.refresh_from_db()
    assert ticket.state == TicketState.CLOSED
    assert compensation.amount == Decimal("20.00")
    assert not Judgment.objects.exists()


def test_ordinary_ticket_is_not_compensated():
    ticket = escalated_ticket()
    before = state_and_events(ticket)
    with pytest.raises(ValidationError) as excinfo:
        ticket_compensate(ticket=ticket, user=staff_user("arbitrator"), amount="20")
    assert excinfo.value.code == "not_worry_free"
    assert state_and_events(ticket) == before
    assert not Compensation.objects.exists()


# --- forged evidence ------------------------------------------------------------------


@pytest.mark.parametrize(("severity", "points"), [("general", 12), ("serious", 48)])
def test_forged_evidence_costs_the_store_points(severity, points):
    ticket = escalated_ticket()
    evidence = make_evidence(ticket)
    violation = evidence_mark_forged(
        evidence=evidence, user=staff_user("arbitrator"), severity=severity, note="PS痕迹明显"
    )
    assert (violation.store, violation.points, violation.severity) == (
        ticket.store,
        points,
        severity,
    )
    event = TicketEvent.objects.get(ticket=ticket, action="evidence_forged")
    assert event.payload["points"] == points


def test_each_forged_file_counts_but_the_same_file_only_once():
    ticket = escalated_ticket()
    first = make_evidence(ticket, "a.png", b"\x89PNG\r\n\x1a\n one")
    second = make_evidence(ticket, "b.png", b"\x89PNG\r\n\x1a\n two")
    arbitrator = staff_user("arbitrator")
    evidence_mark_forged(evidence=first, user=arbitrator, severity="general", note="PS痕迹")
    evidence_mark_forged(evidence=second, user=arbitrator, severity="serious", note="伪造聊天")
    with pytest.raises(ValidationError) as excinfo:
        evidence_mark_forged(evidence=first, user=arbitrator, severity="serious", note="再次")
    assert excinfo.value.code == "already_forged"
    total = Violation.objects.filter(store=ticket.store).aggregate(total=Sum("points"))["total"]
    assert total == 12 + 48


def test_merchant_cannot_mark_evidence_forged():
    ticket = escalated_ticket()
    evidence = make_evidence(ticket)
    with pytest.raises(PermissionDenied):
        evidence_mark_forged(
            evidence=evidence,
            user=MembershipFactory(store=ticket.store).user,
            severity="general",
            note="伪造",
        )
    assert not Violation.objects.exists()


# --- exemptions -----------------------------------------------------------------------


def requested(ticket, minutes=120):
    member = MembershipFactory(store=ticket.store)
    return exemption_request(
        ticket=ticket, user=member.user, reason="园区停电", minutes=minutes, now=ticket.created_at
    )


def test_granted_exemption_extends_a_calendar_deadline():
    ticket = TicketFactory()
    request = exemption_grant(request=requested(ticket), user=staff_user("ops"), note="停电属实")
    ticket.refresh_from_db()
    assert ticket.due_at == TUESDAY_10_SHANGHAI + timedelta(hours=26)
    assert request.status == ExemptionRequest.Status.GRANTED
    event = TicketEvent.objects.get(ticket=ticket, action="exemption_granted")
    assert event.payload["minutes"] == 120


def test_granted_exemption_extends_a_working_deadline_in_working_time():
    # CRC created Tue 14:00 local -> due Tue 18:00; +120 working minutes -> Wed 10:00.
    ticket = TicketFactory(
        store=StoreFactory(jd=True),
        kind=TicketKind.CRC_HIGH_RISK,
        created_at=datetime(2026, 11, 24, 6, 0, tzinfo=UTC),
    )
    assert ticket.due_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    exemption_grant(request=requested(ticket), user=staff_user("ops"))
    ticket.refresh_from_db()
    assert ticket.due_at == datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def test_ops_may_grant_less_than_asked():
    ticket = TicketFactory()
    exemption_grant(request=requested(ticket, 240), user=staff_user("ops"), minutes=60)
    ticket.refresh_from_db()
    assert ticket.due_at == TUESDAY_10_SHANGHAI + timedelta(hours=25)


def test_exemption_for_an_escalated_ticket_cannot_be_granted():
    ticket = TicketFactory()
    request = requested(ticket)
    ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)
    before = state_and_events(ticket)
    with pytest.raises(ValidationError) as excinfo:
        exemption_grant(request=request, user=staff_user("ops"))
    assert excinfo.value.code == "wrong_state"
    assert state_and_events(ticket) == before
    request.refresh_from_db()
    assert request.status == ExemptionRequest.Status.PENDING


def test_rejection_needs_a_note_and_decides_once():
    ticket = TicketFactory()
    request = requested(ticket)
    ops = staff_user("ops")
    with pytest.raises(ValidationError):
        exemption_reject(request=request, user=ops, note="")
    exemption_reject(request=request, user=ops, note="未提供停电证明")
    before = state_and_events(ticket)
    with pytest.raises(ValidationError) as excinfo:
        exemption_grant(request=request, user=ops)
    assert excinfo.value.code == "already_decided"
    assert state_and_events(ticket) == before


def test_merchant_cannot_grant_their_own_exemption():
    ticket = TicketFactory()
    request = requested(ticket)
    with pytest.raises(PermissionDenied):
        exemption_grant(request=request, user=request.requested_by)
    ticket.refresh_from_db()
    assert ticket.due_at == TUESDAY_10_SHANGHAI + timedelta(hours=24)


def test_staff_role_groups_exist_with_their_permissions():
    from django.contrib.auth.models import Group

    perms = {
        g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()
    }
    assert {"confirm_ticket", "escalate_ticket"} <= perms["cs_agent"]
    assert {"judge_ticket", "mark_evidence_forged"} <= perms["arbitrator"]
    assert {"decide_exemption", "change_policy"} <= perms["ops"]
    assert "judge_ticket" not in perms["cs_agent"]

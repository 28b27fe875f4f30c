"""Two actors at once end in exactly one outcome: never both, never a lost reply.

Runs on PostgreSQL (real row locks) with two threads, each on its own connection,
released together by a barrier, many rounds over.
"""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from tests.concurrency import run_together
from tests.factories import MembershipFactory, TicketFactory
from tickets.models import Reply, ReplyOption, Ticket, TicketEvent, TicketState
from tickets.services.contacts import contact_log
from tickets.services.lifecycle import ticket_escalate, ticket_reply

# serialized_rollback restores the seeded policies and reply options after the flush.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROUNDS = 25


def test_merchant_reply_racing_the_deadline_escalation():
    member = MembershipFactory()
    settled = ReplyOption.objects.get(platform="taobao", code="settled")
    outcomes = {"replied": 0, "escalated": 0}
    for round_ in range(ROUNDS):
        ticket = TicketFactory(store=member.store, number=f"RACE-{round_}")
        contact_log(
            ticket=ticket,
            user=member.user,
            channel="phone",
            attempted_at=ticket.created_at + timedelta(minutes=5),
            now=ticket.created_at + timedelta(minutes=5),
        )
        # The reply lands one second before the deadline, the sweep at the deadline.
        results = run_together(
            lambda t=ticket: ticket_reply(
                ticket=t,
                user=member.user,
                option=settled,
                agreed_at=t.created_at + timedelta(minutes=6),
                now=t.due_at - timedelta(seconds=1),
            ),
            lambda t=ticket: ticket_escalate(ticket=t, user=None, now=t.due_at),
        )
        winners = [r for r in results if isinstance(r, Ticket)]
        losers = [r for r in results if isinstance(r, ValidationError)]
        assert len(winners) == 1 and len(losers) == 1, results
        ticket.refresh_from_db()
        actions = set(TicketEvent.objects.filter(ticket=ticket).values_list("action", flat=True))
        if ticket.state == TicketState.REPLIED:
            assert Reply.objects.filter(ticket=ticket).count() == 1
            assert "escalated" not in actions
            outcomes["replied"] += 1
        else:
            assert ticket.state == TicketState.ESCALATED
            assert not Reply.objects.filter(ticket=ticket).exists()
            assert "replied" not in actions
            outcomes["escalated"] += 1
    assert sum(outcomes.values()) == ROUNDS


def test_two_staff_replying_at_once_give_one_reply():
    owner = MembershipFactory()
    colleague = MembershipFactory(store=owner.store, role="after_sales")
    settled = ReplyOption.objects.get(platform="taobao", code="settled")
    for round_ in range(ROUNDS):
        ticket = TicketFactory(store=owner.store, number=f"TWIN-{round_}")
        at = ticket.created_at + timedelta(minutes=5)
        contact_log(ticket=ticket, user=owner.user, channel="phone", attempted_at=at, now=at)

        def reply_as(user, t=ticket, at=at):
            return ticket_reply(
                ticket=t, user=user, option=settled, agreed_at=at, now=at + timedelta(minutes=1)
            )

        results = run_together(lambda: reply_as(owner.user), lambda: reply_as(colleague.user))
        errors = [r for r in results if isinstance(r, ValidationError)]
        assert len(errors) == 1 and errors[0].code == "wrong_state", results
        assert Reply.objects.filter(ticket=ticket).count() == 1
        assert TicketEvent.objects.filter(ticket=ticket, action="replied").count() == 1

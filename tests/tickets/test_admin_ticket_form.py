"""The ticket's admin page: rule-bound fields are read-only; staff changes go through
``ticket_staff_update`` and leave events."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    UserFactory,
    staff_user,
)
from tickets.models import EventAction, Ticket, TicketEvent, TicketKind
from tickets.services.team import ticket_staff_update

pytestmark = pytest.mark.django_db

NOW = TUESDAY_10_SHANGHAI + timedelta(hours=1)
RULE_FIELDS = [
    "number",
    "store_id",
    "kind",
    "policy_id",
    "worry_free",
    "due_at",
    "state",
    "created_at",
    "priority",
]


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def facts(ticket: Ticket) -> dict:
    ticket.refresh_from_db()
    return {name: getattr(ticket, name) for name in RULE_FIELDS}


def change_form_data(client, ticket: Ticket, **changes) -> dict:
    """What the browser would post: every inline's management form, plus ``changes``."""
    response = client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    assert response.status_code == 200
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name, field in management.fields.items():
            data[f"{management.prefix}-{name}"] = management.initial.get(name, field.initial)
    data.update(changes)
    return data


@time_machine.travel(NOW, tick=False)
def test_saving_changed_rule_fields_changes_nothing_but_the_assignee_and_notes(superuser_client):
    # given a Taobao ticket, a JD store, and a member of the ticket's store
    ticket = TicketFactory(number="TB-ADMIN-1")
    member = MembershipFactory(store=ticket.store, role="after_sales")
    jd = StoreFactory(jd=True)
    before = facts(ticket)

    # when staff post the form with every rule-bound field changed
    data = change_form_data(
        superuser_client,
        ticket,
        number="TB-HACKED",
        store=jd.pk,
        kind=TicketKind.CRC_HIGH_RISK,
        worry_free="on",
        state="closed",
        due_at_0="2030-01-01",
        due_at_1="00:00:00",
        created_at_0="2020-01-01",
        created_at_1="00:00:00",
        policy="",
        assignee=member.user.pk,
        note="Consumer called the hotline twice.",
    )
    response = superuser_client.post(reverse("admin:tickets_ticket_change", args=[ticket.pk]), data)

    # then only the assignee changed, and each change left an event by that user
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert facts(ticket) == before
    assert ticket.assignee == member.user
    events = list(TicketEvent.objects.filter(ticket=ticket).order_by("pk"))
    assert [(e.action, e.actor.username) for e in events] == [
        (EventAction.ASSIGNED, "root"),
        (EventAction.STAFF_NOTE, "root"),
    ]
    assert events[0].payload == {"assignee": member.user.username}
    assert events[1].reason == "Consumer called the hotline twice."


@time_machine.travel(NOW, tick=False)
def test_a_save_with_nothing_staff_may_change_writes_nothing(superuser_client):
    ticket = TicketFactory()
    before = facts(ticket)
    data = change_form_data(superuser_client, ticket, kind=TicketKind.CRC_HIGH_RISK, number="X")

    response = superuser_client.post(reverse("admin:tickets_ticket_change", args=[ticket.pk]), data)

    assert response.status_code == 302
    assert facts(ticket) == before
    assert ticket.assignee is None
    assert not TicketEvent.objects.filter(ticket=ticket).exists()


@time_machine.travel(NOW, tick=False)
def test_an_assignee_outside_the_store_is_refused_in_the_form(superuser_client):
    ticket = TicketFactory()
    outsider = MembershipFactory()  # a member of another store
    data = change_form_data(superuser_client, ticket, assignee=outsider.user.pk, note="x")

    response = superuser_client.post(reverse("admin:tickets_ticket_change", args=[ticket.pk]), data)

    assert response.status_code == 200
    assert "assignee" in response.context["adminform"].form.errors
    ticket.refresh_from_db()
    assert ticket.assignee is None
    assert not TicketEvent.objects.filter(ticket=ticket).exists()


def test_the_ticket_form_offers_no_rule_field_and_no_delete(superuser_client):
    ticket = TicketFactory()
    response = superuser_client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    form = response.context["adminform"].form
    assert set(form.fields) == {"assignee", "note"}
    assert not response.context["has_delete_permission"]
    delete = superuser_client.post(reverse("admin:tickets_ticket_delete", args=[ticket.pk]))
    assert delete.status_code == 403
    assert Ticket.objects.filter(pk=ticket.pk).exists()


@time_machine.travel(NOW, tick=False)
def test_staff_update_needs_the_change_permission_and_changes_nothing_without_it():
    ticket = TicketFactory()
    member = MembershipFactory(store=ticket.store)
    cs = staff_user("cs_agent")
    with pytest.raises(PermissionDenied):
        ticket_staff_update(ticket=ticket, user=cs, assignee=member.user, note="hi")
    ticket.refresh_from_db()
    assert ticket.assignee is None
    assert not TicketEvent.objects.filter(ticket=ticket).exists()


@time_machine.travel(NOW, tick=False)
def test_staff_update_refuses_a_non_member_and_an_overlong_note():
    ticket = TicketFactory()
    root = UserFactory(username="root2", is_staff=True, is_superuser=True)
    with pytest.raises(ValidationError) as excinfo:
        ticket_staff_update(ticket=ticket, user=root, assignee=MembershipFactory().user)
    assert excinfo.value.error_dict["assignee"][0].code == "assignee_not_member"
    with pytest.raises(ValidationError) as excinfo:
        ticket_staff_update(ticket=ticket, user=root, assignee=None, note="x" * 2001)
    assert excinfo.value.error_dict["note"][0].code == "note_too_long"
    assert not TicketEvent.objects.filter(ticket=ticket).exists()


@time_machine.travel(NOW, tick=False)
def test_the_store_never_sees_a_staff_note(client):
    ticket = TicketFactory()
    owner = MembershipFactory(store=ticket.store)
    root = UserFactory(username="root3", is_staff=True, is_superuser=True)
    ticket_staff_update(
        ticket=ticket, user=root, assignee=owner.user, note="内部备注：疑似职业索赔"
    )

    client.force_login(owner.user)
    body = client.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()

    assert "疑似职业索赔" not in body
    assert owner.user.username in body  # the assignment itself is shown

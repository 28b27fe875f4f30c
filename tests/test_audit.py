"""The audit trail: every data-changing request of staff (admin) and API clients leaves one
append-only row saying who, when and what; reads leave none."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django import forms
from django.contrib.auth.models import Permission
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from arbitration.models import Judgment
from audit.admin import AuditEntryAdmin, what_lines
from audit.capture import form_diff
from audit.models import AppendOnlyError, AuditEntry, Outcome, Via
from tests.factories import (
    TUESDAY_10_SHANGHAI,
    MembershipFactory,
    TicketFactory,
    UserFactory,
    staff_user,
)
from tickets.models import Ticket, TicketEvent, TicketState
from tickets.services.lifecycle import ticket_escalate
from tickets.services.tokens import api_token_create

pytestmark = pytest.mark.django_db

NOW = TUESDAY_10_SHANGHAI + timedelta(hours=1)
AUDIT_MIDDLEWARE = "audit.middleware.AuditMiddleware"


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def root():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def root_client(client, root):
    client.force_login(root)
    return client


def change_form_data(client, ticket: Ticket, **changes) -> dict:
    """What the browser posts on the ticket's change page: the inlines' management forms
    plus ``changes``."""
    response = client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    assert response.status_code == 200
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name, field in management.fields.items():
            data[f"{management.prefix}-{name}"] = management.initial.get(name, field.initial)
    data.update(changes)
    return data


def escalated_ticket(**kwargs) -> Ticket:
    ticket = TicketFactory(**kwargs)
    return ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)


def judge_url(ticket) -> str:
    return reverse("admin:arbitration_escalatedticket_judge", args=[ticket.pk])


JUDGMENT = {"merchant_liable": "yes", "refund_amount": "59.90", "reasoning": "商家超时未回复"}


# --- admin: a ModelAdmin save, an action, a custom view, a refusal --------------------


def test_a_staff_change_of_the_assignee_leaves_old_and_new(root_client, root):
    # given a ticket assigned to one member of its store
    first = MembershipFactory(user__username="first-agent")
    ticket = TicketFactory(store=first.store, assignee=first.user)
    second = MembershipFactory(store=ticket.store, user__username="second-agent")
    data = change_form_data(root_client, ticket, assignee=second.user.pk, note="")

    # when staff give it to the other one
    response = root_client.post(
        reverse("admin:tickets_ticket_change", args=[ticket.pk]),
        data,
        HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 400,
        REMOTE_ADDR="10.1.2.3",
    )

    # then one row: who, when, through what, on which object, old → new
    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.actor_label, entry.via) == (root, "root", Via.ADMIN)
    assert entry.at == NOW and entry.at.utcoffset() == timedelta(0)
    assert (entry.object_type, entry.object_id) == ("tickets.ticket", str(ticket.pk))
    assert (entry.method, entry.status_code, entry.outcome) == ("POST", 302, Outcome.DONE)
    assert entry.view_name == "admin:tickets_ticket_change"
    assert entry.path == f"/admin/tickets/ticket/{ticket.pk}/change/"
    [change] = entry.what["changes"]
    assert change["fields"] == {
        "assignee": {"old": f"#{first.user.pk}", "new": f"second-agent (#{second.user.pk})"}
    }
    assert entry.ip == "10.1.2.3"
    assert len(entry.user_agent) == 256 and entry.user_agent.startswith("Mozilla/5.0")
    # and the ops page reads it as a sentence of the change
    assert f"  assignee: #{first.user.pk} → second-agent (#{second.user.pk})" in what_lines(
        entry.what
    )


def test_an_admin_action_leaves_its_name_and_the_selected_ids(client):
    # given two open tickets (confirming refuses both: the action still ran)
    tickets = [TicketFactory(), TicketFactory()]
    cs = staff_user("cs_agent")
    client.force_login(cs)

    response = client.post(
        reverse("admin:tickets_ticket_changelist"),
        {"action": "confirm_selected", "_selected_action": [t.pk for t in tickets], "index": 0},
    )

    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.via, entry.object_type, entry.object_id) == (
        cs,
        Via.ADMIN,
        "tickets.ticket",
        "",
    )
    assert entry.what == {"action": "confirm_selected", "ids": [str(t.pk) for t in tickets]}


def test_a_judgment_in_the_arbitration_admin_leaves_the_posted_fields(client):
    ticket = escalated_ticket()
    arbitrator = staff_user("arbitrator")
    client.force_login(arbitrator)

    response = client.post(
        judge_url(ticket), JUDGMENT | {"confirmed": "1", "signing_secret": "do-not-keep"}
    )

    assert response.status_code == 302
    assert Judgment.objects.filter(ticket=ticket).exists()
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.object_type, entry.object_id) == (
        arbitrator,
        "tickets.ticket",  # the queue's proxy model is a ticket
        str(ticket.pk),
    )
    assert entry.view_name == "admin:arbitration_escalatedticket_judge"
    assert entry.outcome == Outcome.DONE
    # the form's fields as posted, secrets masked, the CSRF token left out
    assert entry.what == {"fields": JUDGMENT | {"confirmed": "1", "signing_secret": "***"}}
    assert "do-not-keep" not in str(entry.what)


def test_the_judgment_confirmation_step_is_recorded_as_nothing_saved(client):
    ticket = escalated_ticket()
    client.force_login(staff_user("arbitrator"))

    response = client.post(judge_url(ticket), JUDGMENT)

    assert response.status_code == 200
    assert not Judgment.objects.exists()
    assert AuditEntry.objects.get().outcome == Outcome.SHOWN_AGAIN


def test_a_refused_post_leaves_its_status_and_nothing_else(client):
    # given a CS agent, who may not judge
    ticket = escalated_ticket()
    cs = staff_user("cs_agent")
    client.force_login(cs)
    events_before = TicketEvent.objects.filter(ticket=ticket).count()

    response = client.post(judge_url(ticket), JUDGMENT | {"confirmed": "1"})

    # then refused, recorded as refused, and nothing else written
    assert response.status_code == 403
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.status_code, entry.outcome) == (cs, 403, Outcome.REFUSED)
    assert (entry.object_type, entry.object_id) == ("tickets.ticket", str(ticket.pk))
    ticket.refresh_from_db()
    assert ticket.state == TicketState.ESCALATED
    assert not Judgment.objects.exists()
    assert TicketEvent.objects.filter(ticket=ticket).count() == events_before


def test_a_post_without_a_login_is_recorded_as_refused(client):
    ticket = escalated_ticket()

    response = client.post(judge_url(ticket), JUDGMENT | {"confirmed": "1"})

    assert response.status_code == 302 and "/login/" in response["Location"]
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.actor_label, entry.outcome) == (None, "", Outcome.REFUSED)
    assert not Judgment.objects.exists()


def test_an_admin_password_change_keeps_no_password(root_client, root):
    user = UserFactory(username="someone")

    response = root_client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {
            "password1": "n3w-Secret-pass!",
            "password2": "n3w-Secret-pass!",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.object_type, entry.object_id) == ("auth.user", str(user.pk))
    assert "n3w-Secret-pass!" not in str(entry.what)
    # the password form says "password" changed: masked like any secret
    assert entry.what["changes"][0]["fields"] == {"password": {"old": "***", "new": "***"}}


def test_form_diff_masks_secret_fields_and_keeps_the_others():
    class StoreBotForm(forms.Form):
        name = forms.CharField()
        bot_secret = forms.CharField()
        api_key = forms.CharField()
        bot_url = forms.URLField(assume_scheme="https")

    form = StoreBotForm(
        data={
            "name": "新名字",
            "bot_secret": "s3cr3t",
            "api_key": "k",
            "bot_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",
        },
        initial={"name": "旧名字", "bot_secret": "old", "api_key": "old", "bot_url": ""},
    )
    assert form.is_valid()

    assert form_diff(form) == {
        "name": {"old": "旧名字", "new": "新名字"},
        "bot_secret": {"old": "***", "new": "***"},
        "api_key": {"old": "***", "new": "***"},
        # a webhook URL carries its key in the query string
        "bot_url": {"old": "", "new": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?…"},
    }


# --- the intake API -------------------------------------------------------------------


@pytest.fixture
def api_token():
    user = UserFactory(username="cs-bot")
    user.user_permissions.add(Permission.objects.get(codename="use_intake_api"))
    token, key = api_token_create(user=user, name="platform CS")
    return token, key


def test_an_intake_api_post_leaves_the_token_and_the_created_ticket(api_token):
    token, key = api_token
    store = MembershipFactory().store
    api = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {key}"})

    response = api.post(
        "/api/v1/tickets",
        {
            "number": "CS-AUDIT-1",
            "store_code": store.code,
            "order_number": "O-1",
            "summary": "买家催发货",
            "consumer_phone": "13812345678",
        },
        content_type="application/json",
    )

    assert response.status_code == 201
    ticket = Ticket.objects.get(number="CS-AUDIT-1")
    entry = AuditEntry.objects.get()
    assert (entry.via, entry.actor, entry.actor_label) == (Via.API, token.user, "cs-bot")
    assert (entry.api_token_id, entry.api_token_name) == (token.pk, "platform CS")
    assert (entry.object_type, entry.object_id) == ("tickets.ticket", str(ticket.pk))
    assert (entry.status_code, entry.outcome) == (201, Outcome.DONE)
    assert entry.view_name == "api-v1:ticket_open_view"
    assert entry.what == {
        "keys": ["consumer_phone", "number", "order_number", "store_code", "summary"],
        "result_id": ticket.pk,
    }
    # the body's values (a consumer's phone) are not kept
    assert "13812345678" not in str(entry.what)


def test_a_refused_api_call_leaves_its_status_and_no_ticket(api_token):
    _, key = api_token
    api = Client(headers={"Authorization": f"Bearer {key}"})

    response = api.post(
        "/api/v1/tickets", {"number": "CS-X", "store_code": "NOPE"}, content_type="application/json"
    )
    unauthenticated = Client().post("/api/v1/tickets", {}, content_type="application/json")

    assert (response.status_code, unauthenticated.status_code) == (400, 401)
    assert not Ticket.objects.exists()
    entries = list(AuditEntry.objects.order_by("pk"))
    assert [(e.status_code, e.outcome, e.object_id) for e in entries] == [
        (400, Outcome.REFUSED, ""),
        (401, Outcome.REFUSED, ""),
    ]
    assert entries[1].actor is None and entries[1].api_token_id is None


def test_get_requests_leave_nothing(root_client, api_token):
    _, key = api_token
    ticket = TicketFactory(number="CS-GET-1")

    assert root_client.get(reverse("admin:tickets_ticket_changelist")).status_code == 200
    assert (
        root_client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk])).status_code == 200
    )
    api = Client(headers={"Authorization": f"Bearer {key}"})
    assert api.get("/api/v1/tickets/CS-GET-1").status_code == 200

    assert not AuditEntry.objects.exists()


def test_a_dashboard_post_is_not_the_audits(client):
    # The merchants' dashboard has its own trail (TicketEvent); only admin and API here.
    member = MembershipFactory()
    client.force_login(member.user)
    client.post(reverse("logout"))
    assert not AuditEntry.objects.exists()


# --- the request is answered whatever happens to its entry ----------------------------


def test_a_failed_audit_write_is_logged_and_never_turns_success_into_an_error(
    root_client, monkeypatch, caplog
):
    member = MembershipFactory()
    ticket = TicketFactory(store=member.store)
    data = change_form_data(root_client, ticket, assignee=member.user.pk, note="")

    def broken_save(self, *args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(AuditEntry, "save", broken_save)
    with caplog.at_level(logging.ERROR, logger="audit.capture"):
        response = root_client.post(reverse("admin:tickets_ticket_change", args=[ticket.pk]), data)

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.assignee == member.user
    assert "audit: could not record POST" in caplog.text
    assert not AuditEntry.objects.exists()


def test_x_forwarded_for_counts_only_behind_a_trusted_proxy(client, settings):
    ticket = escalated_ticket()
    client.force_login(staff_user("arbitrator"))
    headers = {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.7"}

    client.post(judge_url(ticket), JUDGMENT, **headers)
    settings.AUDIT_TRUSTED_PROXIES = 1
    client.post(judge_url(ticket), JUDGMENT, **headers)

    # the client's own claim (6.6.6.6, leftmost) is never taken
    assert list(AuditEntry.objects.order_by("pk").values_list("ip", flat=True)) == [
        "10.0.0.9",
        "203.0.113.7",
    ]


# --- append-only ----------------------------------------------------------------------


def _entry() -> AuditEntry:
    return AuditEntry.objects.create(
        at=NOW, via=Via.ADMIN, method="POST", path="/admin/x/", status_code=302, outcome="done"
    )


def test_entries_refuse_update_and_delete_in_python():
    entry = _entry()
    entry.path = "/admin/rewritten/"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(path="/admin/rewritten/")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get().path == "/admin/x/"


@pytest.mark.postgres
def test_the_database_refuses_a_raw_update_or_delete():
    entry = _entry()
    for sql in (
        "UPDATE audit_auditentry SET path = '/admin/rewritten/' WHERE id = %s",
        "DELETE FROM audit_auditentry WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [entry.pk])
    assert AuditEntry.objects.get().path == "/admin/x/"


# --- the ops page ---------------------------------------------------------------------


def test_the_audit_admin_is_read_only_for_everyone(root_client, root, rf):
    entry = _entry()
    model_admin = AuditEntryAdmin(AuditEntry, None)
    request = rf.get("/admin/")
    request.user = root  # a superuser: every permission, none of these

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    changelist = root_client.get(reverse("admin:audit_auditentry_changelist"))
    assert changelist.status_code == 200
    assert list(changelist.context["cl"].result_list) == [entry]
    assert root_client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    assert (
        root_client.get(reverse("admin:audit_auditentry_change", args=[entry.pk])).status_code
        == 200
    )
    delete = root_client.post(
        reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_the_audit_list_filters_by_via_and_actor_and_searches_object_ids(root_client, root):
    admin_row = AuditEntry.objects.create(
        at=NOW,
        actor=root,
        actor_label="root",
        via=Via.ADMIN,
        method="POST",
        path="/admin/tickets/ticket/7/change/",
        object_type="tickets.ticket",
        object_id="7",
        status_code=302,
        outcome=Outcome.DONE,
    )
    api_row = AuditEntry.objects.create(
        at=NOW, via=Via.API, method="POST", path="/api/v1/tickets", status_code=201, outcome="done"
    )
    url = reverse("admin:audit_auditentry_changelist")

    def rows(query):
        return list(root_client.get(url, query).context["cl"].result_list)

    assert rows({"via__exact": "api"}) == [api_row]
    assert rows({"actor": str(root.pk)}) == [admin_row]
    assert rows({"q": "7"}) == [admin_row]
    assert rows({"q": "/api/"}) == [api_row]


# --- cost: one INSERT per audited request ---------------------------------------------


def test_an_audited_request_costs_one_insert(settings):
    # given the same request (the judgment's confirmation step: it writes nothing, so it
    # can be repeated) with and without the middleware
    ticket = escalated_ticket()
    arbitrator = staff_user("arbitrator")

    def statements() -> list[str]:
        # A new client loads MIDDLEWARE as it is now.
        client = Client()
        client.force_login(arbitrator)
        client.post(judge_url(ticket), JUDGMENT)  # warm caches (content types)
        with CaptureQueriesContext(connection) as captured:
            assert client.post(judge_url(ticket), JUDGMENT).status_code == 200
        # The entry's own transaction is a savepoint inside the test's transaction.
        return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]

    audited = statements()
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != AUDIT_MIDDLEWARE]
    plain = statements()

    # then exactly one statement more: the INSERT of the entry
    assert len(audited) == len(plain) + 1
    extra = [sql for sql in audited if "audit_auditentry" in sql]
    assert len(extra) == 1 and extra[0].startswith("INSERT INTO")
    assert AuditEntry.objects.count() == 2  # the warm-up and the audited request


def test_an_audited_model_admin_save_costs_one_insert(root, settings):
    # given a ticket whose assignee goes back and forth between two members
    first = MembershipFactory()
    ticket = TicketFactory(store=first.store, assignee=first.user)
    second = MembershipFactory(store=ticket.store)
    url = reverse("admin:tickets_ticket_change", args=[ticket.pk])

    def save(assignee) -> list[str]:
        client = Client()  # loads MIDDLEWARE as it is now
        client.force_login(root)
        data = change_form_data(client, ticket, assignee=assignee.pk, note="")
        with CaptureQueriesContext(connection) as captured:
            response = client.post(url, data)
            assert response.status_code == 302, response.context["adminform"].form.errors
        return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]

    audited = save(second.user)
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != AUDIT_MIDDLEWARE]
    plain = save(first.user)

    assert len(audited) == len(plain) + 1
    assert sum("audit_auditentry" in sql for sql in audited) == 1

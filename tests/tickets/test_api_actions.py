"""The CS system's actions by API: confirm, object, notes, platform evidence, timeline.

Each is the admin's service behind a bearer token; each refusal answers with its status
and leaves the database as it was.
"""

import io
import itertools
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from arbitration.models import Violation
from arbitration.services.findings import evidence_mark_forged
from tests.factories import (
    MembershipFactory,
    TicketFactory,
    UserFactory,
    replied_ticket,
    staff_user,
)
from tickets.models import (
    ApiIdempotencyKey,
    Evidence,
    Notification,
    NotificationKind,
    ReplyOption,
    Ticket,
    TicketEvent,
    TicketState,
)
from tickets.services.contacts import contact_log
from tickets.services.evidence import evidence_upload, evidence_upload_platform
from tickets.services.lifecycle import ticket_confirm, ticket_reply
from tickets.services.team import STAFF_NOTE_MAX
from tickets.services.tokens import api_token_create

pytestmark = pytest.mark.django_db

CS_PERMISSIONS = (
    "use_intake_api",
    "confirm_ticket",
    "escalate_ticket",
    "change_ticket",
    "add_evidence",
)
_keys = itertools.count(1)


def cs_token(*, without: str = "", username: str = "cs-bot") -> tuple[str, object]:
    """A CS service account's raw token key, with every permission the actions ask."""
    user = UserFactory(username=username)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="tickets",
            codename__in=[p for p in CS_PERMISSIONS if p != without],
        )
    )
    _, raw_key = api_token_create(user=user, name="platform CS")
    return raw_key, user


def _cs_client(*, without: str = "", username: str = "cs-bot") -> tuple[Client, object]:
    raw_key, user = cs_token(without=without, username=username)
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw_key}"}), user


@pytest.fixture
def cs():
    return _cs_client()[0]


@pytest.fixture
def cs_user(cs):
    return UserFactory(username="cs-bot")


def key() -> str:
    return f"key-{next(_keys)}"


def post(client, url, body=None, *, idempotency_key=None, **extra):
    headers = {"Idempotency-Key": idempotency_key or key()}
    if body is None:
        return client.post(url, headers=headers, **extra)
    return client.post(url, body, content_type="application/json", headers=headers, **extra)


def url(ticket_or_number, action: str) -> str:
    number = getattr(ticket_or_number, "number", ticket_or_number)
    return f"/api/v1/tickets/{number}/{action}"


def snapshot(ticket) -> tuple:
    """Everything an action might write."""
    return (
        Ticket.objects.get(pk=ticket.pk).state,
        TicketEvent.objects.count(),
        Evidence.objects.count(),
        Notification.objects.count(),
        ApiIdempotencyKey.objects.count(),
    )


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (30, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


# --- confirm ------------------------------------------------------------------------------


def test_confirm_closes_a_replied_ticket_as_the_token_user(cs):
    ticket = replied_ticket()

    response = post(cs, url(ticket, "confirm"))

    assert response.status_code == 200
    assert response.json()["state"] == "closed"
    assert response.json()["number"] == ticket.number
    ticket.refresh_from_db()
    assert ticket.state == TicketState.CLOSED
    event = ticket.events.get(action="confirmed")
    assert (event.from_state, event.to_state, event.actor.username) == (
        "replied",
        "closed",
        "cs-bot",
    )
    assert Notification.objects.filter(kind=NotificationKind.CONFIRMED).count() == 1


def test_confirm_of_an_open_ticket_is_409_and_writes_nothing(cs):
    ticket = TicketFactory()
    before = snapshot(ticket)

    response = post(cs, url(ticket, "confirm"))

    assert response.status_code == 409
    assert response.json() == {
        "errors": {"__all__": [f"Ticket {ticket.number} is Open; this needs it Replied."]}
    }
    assert snapshot(ticket) == before


def test_confirm_without_the_permission_is_403_and_writes_nothing():
    client, _ = _cs_client(without="confirm_ticket")
    ticket = replied_ticket()
    before = snapshot(ticket)

    response = post(client, url(ticket, "confirm"))

    assert response.status_code == 403
    assert response.json() == {"detail": "You are not allowed to do this."}
    assert snapshot(ticket) == before


def test_an_unknown_number_is_404(cs):
    for action in ("confirm", "notes"):
        response = post(cs, url("NO-SUCH", action), {"text": "x"})

        assert response.status_code == 404
        assert response.json() == {"detail": "No ticket has this number."}
    assert not ApiIdempotencyKey.objects.exists()


def test_no_token_is_401_and_writes_nothing():
    ticket = replied_ticket()
    before = snapshot(ticket)

    response = post(Client(), url(ticket, "confirm"))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert snapshot(ticket) == before


def test_a_token_without_the_intake_permission_is_401():
    client, user = _cs_client(without="use_intake_api")
    ticket = replied_ticket()

    response = post(client, url(ticket, "confirm"))

    assert response.status_code == 401
    assert Ticket.objects.get(pk=ticket.pk).state == TicketState.REPLIED


# --- object -------------------------------------------------------------------------------


def test_an_objection_escalates_the_replied_ticket_with_the_reason(cs):
    ticket = replied_ticket()

    response = post(cs, url(ticket, "object"), {"reason": "  买家称未收到补发  "})

    assert response.status_code == 200
    assert response.json()["state"] == "escalated"
    ticket.refresh_from_db()
    assert ticket.state == TicketState.ESCALATED
    assert ticket.escalated_at is not None
    event = ticket.events.get(action="escalated")
    assert event.reason == "买家称未收到补发"
    assert event.payload["objection"] is True
    assert event.actor.username == "cs-bot"
    # The store is told of the objection, with the reason.
    notice = Notification.objects.get(kind=NotificationKind.OBJECTED)
    assert "买家称未收到补发" in notice.body


@pytest.mark.parametrize(
    ("body", "field"),
    [({"reason": "   "}, "reason"), ({}, "reason"), ({"reason": "a\x00b"}, "reason")],
    ids=["blank", "missing", "nul"],
)
def test_an_objection_without_a_reason_is_400_by_field_and_writes_nothing(cs, body, field):
    ticket = replied_ticket()
    before = snapshot(ticket)

    response = post(cs, url(ticket, "object"), body)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert snapshot(ticket) == before


def test_an_objection_on_an_open_ticket_past_its_deadline_is_409_not_an_escalation(cs):
    # ticket_escalate would escalate it (waived evidence); an objection needs a reply.
    ticket = TicketFactory()  # created 2026-11-24, long past due
    before = snapshot(ticket)

    response = post(cs, url(ticket, "object"), {"reason": "买家不同意"})

    assert response.status_code == 409
    assert snapshot(ticket) == before


def test_an_objection_without_the_permission_is_403_and_writes_nothing():
    client, _ = _cs_client(without="escalate_ticket")
    ticket = replied_ticket()
    before = snapshot(ticket)

    response = post(client, url(ticket, "object"), {"reason": "买家不同意"})

    assert response.status_code == 403
    assert snapshot(ticket) == before


def test_a_body_not_declared_as_json_is_415(cs):
    ticket = replied_ticket()
    before = snapshot(ticket)

    response = cs.post(
        url(ticket, "object"),
        "reason=x",
        content_type="application/x-www-form-urlencoded",
        headers={"Idempotency-Key": key()},
    )

    assert response.status_code == 415
    assert snapshot(ticket) == before


# --- notes --------------------------------------------------------------------------------


def test_a_note_goes_on_the_timeline_as_a_staff_note(cs):
    ticket = TicketFactory()

    response = post(cs, url(ticket, "notes"), {"text": " 买家来电催促，已安抚 "})

    assert response.status_code == 200
    event = ticket.events.get(action="staff_note")
    assert event.reason == "买家来电催促，已安抚"
    assert event.actor.username == "cs-bot"
    data = response.json()
    assert data["id"] == f"evt_{event.pk}"
    assert data["action"] == "staff_note"
    assert data["label"] == "Staff note"
    assert data["actor"] == "cs-bot"
    assert data["reason"] == "买家来电催促，已安抚"
    assert data["at"].endswith("Z")
    assert Ticket.objects.get(pk=ticket.pk).state == TicketState.OPEN


def test_a_note_may_go_on_a_closed_ticket(cs):
    ticket = replied_ticket()
    ticket_confirm(ticket=ticket, user=staff_user("cs_agent"))

    response = post(cs, url(ticket, "notes"), {"text": "买家事后致谢"})

    assert response.status_code == 200
    assert ticket.events.filter(action="staff_note").count() == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x" * (STAFF_NOTE_MAX + 1), "Keep the note under 2000 characters."),
        ("   ", "String should have at least 1 character"),
    ],
    ids=["too-long", "blank"],
)
def test_a_bad_note_is_400_by_field_and_writes_nothing(cs, text, message):
    ticket = TicketFactory()
    before = snapshot(ticket)

    response = post(cs, url(ticket, "notes"), {"text": text})

    assert response.status_code == 400
    assert response.json() == {"errors": {"text": [message]}}
    assert snapshot(ticket) == before


def test_a_note_without_the_permission_is_403_and_writes_nothing():
    client, _ = _cs_client(without="change_ticket")
    ticket = TicketFactory()
    before = snapshot(ticket)

    response = post(client, url(ticket, "notes"), {"text": "备注"})

    assert response.status_code == 403
    assert snapshot(ticket) == before


# --- evidence -----------------------------------------------------------------------------


def upload(client, ticket, name="chat.jpg", content=None, *, idempotency_key=None):
    return client.post(
        url(ticket, "evidence"),
        {"file": SimpleUploadedFile(name, jpeg() if content is None else content)},
        headers={"Idempotency-Key": idempotency_key or key()},
    )


def stored_files(settings) -> list:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_platform_evidence_is_stored_as_the_platforms(cs, settings):
    ticket = replied_ticket()

    response = upload(cs, ticket, "买家照片.jpg")

    assert response.status_code == 200
    item = Evidence.objects.get()
    assert item.from_platform is True
    assert item.uploaded_by.username == "cs-bot"
    assert item.content_type == "image/jpeg"
    assert item.thumbnail  # made at upload, like a store's image
    data = response.json()
    assert data["id"] == item.pk
    assert data["ticket_number"] == ticket.number
    assert data["original_name"] == "买家照片.jpg"
    assert data["from_platform"] is True
    assert data["uploaded_by"] == "cs-bot"
    assert data["sha256"] == item.sha256
    event = ticket.events.get(action="evidence_uploaded")
    assert event.payload["from_platform"] is True
    assert event.actor.username == "cs-bot"
    assert len(stored_files(settings)) == 2  # the file and its thumbnail
    assert Ticket.objects.get(pk=ticket.pk).state == TicketState.REPLIED


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "photo.jpg",
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"<html><script>alert(1)</script>",
            "The file also contains a web page or an archive, so it cannot be accepted.",
        ),
        (
            "tool.jpg",
            b"MZ\x90\x00" + bytes(200),
            "Only images, PDF, audio recordings and plain text or CSV are accepted.",
        ),
        ("photo.pdf", None, "The file is named photo.pdf but its content is image/jpeg."),
    ],
    ids=["polyglot", "executable", "disguised"],
)
def test_a_refused_file_is_400_on_file_and_leaves_nothing(cs, settings, name, content, message):
    ticket = replied_ticket()
    before = snapshot(ticket)

    response = upload(cs, ticket, name, content)

    assert response.status_code == 400
    assert response.json() == {"errors": {"file": [message]}}
    assert snapshot(ticket) == before
    assert stored_files(settings) == []


def test_a_file_over_the_limit_is_400(cs, settings):
    settings.EVIDENCE_MAX_BYTES = 100
    ticket = replied_ticket()
    before = snapshot(ticket)

    response = upload(cs, ticket)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["file"]
    assert snapshot(ticket) == before


def test_no_file_is_400(cs):
    ticket = replied_ticket()

    response = cs.post(url(ticket, "evidence"), {}, headers={"Idempotency-Key": key()})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["file"]
    assert not Evidence.objects.exists()


def test_evidence_on_a_closed_ticket_is_409_and_leaves_nothing(cs, settings):
    ticket = replied_ticket()
    ticket_confirm(ticket=ticket, user=staff_user("cs_agent"))
    before = snapshot(ticket)

    response = upload(cs, ticket)

    assert response.status_code == 409
    assert snapshot(ticket) == before
    assert stored_files(settings) == []


def test_evidence_without_the_permission_is_403_and_leaves_nothing(settings):
    client, _ = _cs_client(without="add_evidence")
    ticket = replied_ticket()
    before = snapshot(ticket)

    response = upload(client, ticket)

    assert response.status_code == 403
    assert snapshot(ticket) == before
    assert stored_files(settings) == []


def test_platform_evidence_is_not_the_stores_proof_for_a_reply():
    # A reply option that needs evidence wants the store's own file.
    member = MembershipFactory()
    ticket = TicketFactory(store=member.store)
    cs_user = _cs_client()[1]
    evidence_upload_platform(
        ticket=ticket, user=cs_user, upload=SimpleUploadedFile("a.jpg", jpeg())
    )
    contacted = ticket.created_at.replace(hour=3)
    contact_log(
        ticket=ticket, user=member.user, channel="phone", attempted_at=contacted, now=contacted
    )
    option = ReplyOption.objects.filter(platform=ticket.store.platform).first()
    option.requires_evidence = True
    option.save()
    reply = {"ticket": ticket, "user": member.user, "option": option, "remark": "已处理"}
    reply |= {"agreed_at": contacted, "now": contacted}

    with pytest.raises(ValidationError) as refused:
        ticket_reply(**reply)

    assert "evidence" in refused.value.message_dict
    # The store's own file does count.
    evidence_upload(
        ticket=ticket,
        user=member.user,
        upload=SimpleUploadedFile("b.jpg", jpeg() + b"\x00"),
    )
    assert ticket_reply(**reply).state != TicketState.OPEN


def test_platform_evidence_cannot_be_marked_forged_against_the_store():
    ticket = replied_ticket()
    item = evidence_upload_platform(
        ticket=ticket, user=_cs_client()[1], upload=SimpleUploadedFile("a.jpg", jpeg())
    )
    events = TicketEvent.objects.count()

    with pytest.raises(ValidationError) as refused:
        evidence_mark_forged(
            evidence=item, user=staff_user("arbitrator"), severity="general", note="伪造"
        )

    assert refused.value.code == "platform_evidence"
    assert not Violation.objects.exists()
    assert TicketEvent.objects.count() == events


# --- timeline -----------------------------------------------------------------------------


def test_the_timeline_lists_every_event_in_order(cs):
    ticket = replied_ticket()
    post(cs, url(ticket, "notes"), {"text": "买家来电"})
    post(cs, url(ticket, "object"), {"reason": "买家不同意"})

    response = cs.get(url(ticket, "timeline"))

    assert response.status_code == 200
    data = response.json()
    assert data["number"] == ticket.number
    assert data["state"] == "escalated"
    events = data["events"]
    expected = list(TicketEvent.objects.filter(ticket=ticket).order_by("at", "pk"))
    assert [e["id"] for e in events] == [f"evt_{e.pk}" for e in expected]
    assert [e["action"] for e in events] == [
        "contact_logged",
        "replied",
        "staff_note",
        "escalated",
    ]
    replied, note, escalated = events[1], events[2], events[3]
    assert replied["from_state"] == "open"
    assert replied["to_state"] == "replied"
    assert replied["actor"] == expected[1].actor.username
    assert replied["payload"] == {"option": "settled", "settles": True}
    assert replied["at"] == "2026-11-24T03:30:00Z"  # stored UTC, shown UTC
    assert note["from_state"] is None and note["to_state"] is None
    assert note["label"] == "Staff note"
    assert escalated["reason"] == "买家不同意"
    assert escalated["label"] == "Escalated to platform intervention"


def test_a_system_event_has_no_actor(cs):
    from tickets.services.lifecycle import ticket_escalate

    ticket = TicketFactory()
    ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)

    events = cs.get(url(ticket, "timeline")).json()["events"]

    assert [(e["action"], e["actor"]) for e in events] == [("escalated", None)]


def test_the_timeline_of_an_unknown_number_is_404(cs):
    response = cs.get(url("NO-SUCH", "timeline"))

    assert response.status_code == 404


def test_the_timeline_needs_a_token():
    ticket = TicketFactory()

    assert Client().get(url(ticket, "timeline")).status_code == 401


def test_the_timeline_reads_in_a_fixed_number_of_queries(cs, django_assert_max_num_queries):
    # Token + user, its last use, the user's and its groups' permissions, the ticket,
    # its events with their actors: the same however many events.
    ticket = TicketFactory()
    users = UserFactory.create_batch(2)

    def read(note_count):
        for i in range(note_count):
            TicketEvent.objects.create(
                ticket=ticket,
                action="staff_note",
                actor=users[i % 2],
                at=ticket.created_at,
                reason=f"n{i}",
            )
        with django_assert_max_num_queries(6) as captured:
            response = cs.get(url(ticket, "timeline"))
        assert response.status_code == 200
        return len(captured), len(response.json()["events"])

    few, n_few = read(2)
    many, n_many = read(10)

    assert (n_few, n_many) == (2, 12)
    assert few == many


# --- the judge page and the document ------------------------------------------------------


def test_the_judge_page_shows_platform_evidence_as_such_and_offers_no_forgery(client):
    from django.urls import reverse

    from tests.factories import make_evidence
    from tickets.services.lifecycle import ticket_escalate

    ticket = TicketFactory()
    store_file = make_evidence(ticket)
    platform_file = evidence_upload_platform(
        ticket=ticket, user=_cs_client()[1], upload=SimpleUploadedFile("cs.jpg", jpeg())
    )
    ticket_escalate(ticket=ticket, user=None, now=ticket.due_at)
    client.force_login(staff_user("arbitrator"))

    page = client.get(reverse("admin:arbitration_escalatedticket_judge", args=[ticket.pk]))

    html = page.content.decode()
    rows = {
        item.pk: html.split(f'data-evidence="{item.pk}"')[1].split("</tr>")[0]
        for item in (store_file, platform_file)
    }
    assert "Platform evidence" in rows[platform_file.pk]
    assert "mark-forged" not in rows[platform_file.pk]
    assert "Platform evidence" not in rows[store_file.pk]
    assert "mark-forged" in rows[store_file.pk]


def test_the_store_sees_which_files_came_from_the_platform(client):
    from django.urls import reverse

    from tests.factories import MembershipFactory, make_evidence

    ticket = TicketFactory()
    owner = MembershipFactory(store=ticket.store, role="owner").user
    make_evidence(ticket, name="store-chat.png")
    evidence_upload_platform(
        ticket=ticket, user=_cs_client()[1], upload=SimpleUploadedFile("cs.jpg", jpeg())
    )
    client.force_login(owner)

    html = client.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()

    def item_of(name: str) -> str:  # the evidence list's <li> that names the file
        at = html.index(f">{name}</a>")
        return html[html.rindex("<li", 0, at) : html.index("</li>", at)]

    assert "From the platform" in item_of("cs.jpg")
    assert "From the platform" not in item_of("store-chat.png")


ACTIONS = {
    ("post", "/api/v1/tickets/{number}/confirm"),
    ("post", "/api/v1/tickets/{number}/object"),
    ("post", "/api/v1/tickets/{number}/notes"),
    ("post", "/api/v1/tickets/{number}/evidence"),
}


def test_every_action_is_documented_with_its_answers_and_its_key(client):
    document = client.get("/api/v1/openapi.json").json()

    for method, path in ACTIONS:
        operation = document["paths"][path][method]
        assert operation["summary"]
        assert {"200", "400", "401", "403", "404", "409", "422"} <= set(operation["responses"])
        (key,) = [p for p in operation["parameters"] if p["in"] == "header"]
        assert (key["name"], key["required"]) == ("Idempotency-Key", True)
        assert "Idempotent-Replayed" in operation["responses"]["200"]["headers"]
        assert "schema" in operation["responses"]["200"]["content"]["application/json"]
    timeline = document["paths"]["/api/v1/tickets/{number}/timeline"]["get"]
    assert {"200", "401", "404"} <= set(timeline["responses"])
    assert (
        "multipart/form-data"
        in (
            document["paths"]["/api/v1/tickets/{number}/evidence"]["post"]["requestBody"]["content"]
        )
    )
    intake_key = [
        p for p in document["paths"]["/api/v1/tickets"]["post"]["parameters"] if p["in"] == "header"
    ]
    assert [(p["name"], p.get("required", False)) for p in intake_key] == [
        ("Idempotency-Key", False)
    ]
    intake = document["paths"]["/api/v1/tickets"]["post"]["responses"]
    for status in ("200", "201"):
        assert "Idempotent-Replayed" in intake[status]["headers"], status
    # A refusal is never stored under the key, so never replayed.
    for status in ("400", "409"):
        assert "headers" not in intake[status], status

"""Idempotency-Key on the API's POSTs (tickets/idempotency.py): a retry replays the
first answer and writes nothing; a key re-aimed at another request is refused."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from tests.concurrency import run_together
from tests.factories import StoreFactory, TicketFactory, replied_ticket
from tests.tickets.test_api_actions import _cs_client, cs_token, jpeg, post, snapshot, url
from tickets import idempotency
from tickets.idempotency import api_idempotency_keys_purge, idempotent_call
from tickets.models import ApiIdempotencyKey, Evidence, Ticket, TicketEvent, TicketState

pytestmark = pytest.mark.django_db

TICKETS_URL = "/api/v1/tickets"


@pytest.fixture
def cs():
    return _cs_client()[0]


def _opening(**overrides) -> dict:
    return {
        "number": "CS-IDEM-1",
        "store_code": "TB-IDEM",
        "order_number": "O-1",
        "summary": "买家催发货",
    } | overrides


# --- replay -------------------------------------------------------------------------------


def test_a_repeated_note_is_replayed_not_written_twice(cs):
    ticket = TicketFactory()
    first = post(cs, url(ticket, "notes"), {"text": "买家来电"}, idempotency_key="k-1")
    before = snapshot(ticket)

    again = post(cs, url(ticket, "notes"), {"text": "买家来电"}, idempotency_key="k-1")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert snapshot(ticket) == before
    assert ticket.events.filter(action="staff_note").count() == 1
    stored = ApiIdempotencyKey.objects.get()
    assert (stored.key, stored.method, stored.path) == ("k-1", "POST", url(ticket, "notes"))
    assert (stored.response_status, stored.response_body) == (200, first.json())
    assert stored.user.username == "cs-bot"


def test_a_repeated_confirm_gets_its_first_answer_not_a_409(cs):
    ticket = replied_ticket()
    first = post(cs, url(ticket, "confirm"), idempotency_key="c-1")

    again = post(cs, url(ticket, "confirm"), idempotency_key="c-1")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ticket.events.filter(action="confirmed").count() == 1
    # A new key is a new request: the ticket is closed by now.
    assert post(cs, url(ticket, "confirm"), idempotency_key="c-2").status_code == 409


def test_the_same_json_in_another_key_order_and_spacing_is_the_same_request(cs):
    ticket = replied_ticket()
    headers = {"Idempotency-Key": "o-1"}
    first = cs.post(
        url(ticket, "object"),
        '{"reason": "买家不同意"}',
        content_type="application/json",
        headers=headers,
    )

    again = cs.post(
        url(ticket, "object"),
        '{ "reason" :"买家不同意" }',
        content_type="application/json",
        headers=headers,
    )

    assert (first.status_code, again.status_code) == (200, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert ticket.events.filter(action="escalated").count() == 1


def test_a_repeated_upload_is_replayed_with_one_file(cs, settings):
    ticket = replied_ticket()

    def send(name="chat.jpg", content=None):
        return cs.post(
            url(ticket, "evidence"),
            {"file": SimpleUploadedFile(name, content or jpeg())},
            headers={"Idempotency-Key": "e-1"},
        )

    first = send()
    again = send()  # a new multipart boundary, the same file and fields

    assert (first.status_code, again.status_code) == (200, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Evidence.objects.count() == 1
    # Other bytes under the same key are another request.
    other = send(content=jpeg() + b"\x00")
    assert other.status_code == 422
    assert Evidence.objects.count() == 1


def test_keys_belong_to_their_user(cs):
    ticket = TicketFactory()
    other, _ = _cs_client(username="cs-bot-2")

    first = post(cs, url(ticket, "notes"), {"text": "一"}, idempotency_key="shared")
    second = post(other, url(ticket, "notes"), {"text": "二"}, idempotency_key="shared")

    assert (first.status_code, second.status_code) == (200, 200)
    assert not second.has_header("Idempotent-Replayed")
    assert ticket.events.filter(action="staff_note").count() == 2


# --- mismatch -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "body"),
    [("notes", {"text": "另一条"}), ("object", {"reason": "买家来电"})],
    ids=["another-body", "another-path"],
)
def test_a_key_used_for_another_request_is_422_and_writes_nothing(cs, action, body):
    ticket = replied_ticket()
    post(cs, url(ticket, "notes"), {"text": "买家来电"}, idempotency_key="k-1")
    before = snapshot(ticket)

    response = post(cs, url(ticket, action), body, idempotency_key="k-1")

    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "Idempotency-Key": [
                "This Idempotency-Key was already used for a different request "
                f"(POST {url(ticket, 'notes')}); use a new key for a new request."
            ]
        }
    }
    assert snapshot(ticket) == before
    assert Ticket.objects.get(pk=ticket.pk).state == TicketState.REPLIED


# --- the key itself -----------------------------------------------------------------------


@pytest.mark.parametrize("action", ["confirm", "object", "notes", "evidence"])
def test_an_action_without_a_key_is_400_and_writes_nothing(cs, action):
    ticket = replied_ticket()
    before = snapshot(ticket)

    if action == "evidence":
        response = cs.post(url(ticket, action), {"file": SimpleUploadedFile("a.jpg", jpeg())})
    else:
        response = cs.post(url(ticket, action), {"reason": "x", "text": "x"}, "application/json")

    assert response.status_code == 400
    assert response.json()["errors"]["Idempotency-Key"] == [
        "Send an Idempotency-Key header: a new key for each new request."
    ]
    assert snapshot(ticket) == before


@pytest.mark.parametrize("bad", ["has space", "x" * 101, "中文", "tab\there"])
def test_a_malformed_key_is_400(cs, bad):
    ticket = replied_ticket()
    before = snapshot(ticket)

    response = cs.post(url(ticket, "confirm"), headers={"Idempotency-Key": bad})

    assert response.status_code == 400
    assert response.json()["errors"]["Idempotency-Key"] == [
        "An Idempotency-Key is 1 to 100 visible ASCII characters, no spaces."
    ]
    assert snapshot(ticket) == before


def test_a_100_character_key_is_accepted(cs):
    ticket = replied_ticket()

    response = post(cs, url(ticket, "confirm"), idempotency_key="~" * 100)

    assert response.status_code == 200
    assert ApiIdempotencyKey.objects.get().key == "~" * 100


# --- refusals are not stored --------------------------------------------------------------


def test_a_refusal_leaves_the_key_free_for_the_corrected_retry(cs):
    # 409 now (nothing to confirm yet) is no answer to keep: once the store replies,
    # the client's retry with the same key confirms.
    ticket = TicketFactory()

    refused = post(cs, url(ticket, "confirm"), idempotency_key="retry-me")
    assert refused.status_code == 409
    assert not ApiIdempotencyKey.objects.exists()

    ticket.delete()
    ticket = replied_ticket(number=ticket.number)
    accepted = post(cs, url(ticket, "confirm"), idempotency_key="retry-me")

    assert accepted.status_code == 200
    assert not accepted.has_header("Idempotent-Replayed")
    assert ApiIdempotencyKey.objects.get().response_status == 200


def test_the_key_and_the_action_commit_together(cs):
    # The key row cannot be written: the action's note is rolled back with it.
    ticket = TicketFactory()
    cs.raise_request_exception = True

    with (
        mock.patch.object(ApiIdempotencyKey, "save", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError),
    ):
        post(cs, url(ticket, "notes"), {"text": "买家来电"})

    assert not TicketEvent.objects.filter(action="staff_note").exists()
    assert not ApiIdempotencyKey.objects.exists()


# --- the intake, where the key is optional ------------------------------------------------


def test_the_intake_replays_its_201_under_a_key(cs):
    StoreFactory(code="TB-IDEM")
    first = post(cs, TICKETS_URL, _opening(), idempotency_key="open-1")

    again = post(cs, TICKETS_URL, _opening(), idempotency_key="open-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Ticket.objects.count() == 1
    assert TicketEvent.objects.filter(action="opened").count() == 1


def test_the_intake_without_a_key_still_answers_200_to_a_retry(cs):
    StoreFactory(code="TB-IDEM")
    send = {"content_type": "application/json"}

    first = cs.post(TICKETS_URL, _opening(), **send)
    again = cs.post(TICKETS_URL, _opening(), **send)

    assert (first.status_code, again.status_code) == (201, 200)
    assert not ApiIdempotencyKey.objects.exists()


def test_the_intake_refuses_a_key_reused_for_another_ticket(cs):
    StoreFactory(code="TB-IDEM")
    post(cs, TICKETS_URL, _opening(), idempotency_key="open-1")

    response = post(cs, TICKETS_URL, _opening(number="CS-IDEM-2"), idempotency_key="open-1")

    assert response.status_code == 422
    assert Ticket.objects.count() == 1


def test_the_intake_does_not_store_a_refusal(cs):
    response = post(cs, TICKETS_URL, _opening(store_code="NOPE"), idempotency_key="open-1")

    assert response.status_code == 400
    assert response.json() == {"errors": {"store_code": ["Unknown store code."]}}
    assert not ApiIdempotencyKey.objects.exists()


# --- purge --------------------------------------------------------------------------------


def test_keys_older_than_a_day_are_purged(cs):
    ticket = TicketFactory()
    post(cs, url(ticket, "notes"), {"text": "旧"}, idempotency_key="old")
    post(cs, url(ticket, "notes"), {"text": "新"}, idempotency_key="new")
    now = timezone.now()
    ApiIdempotencyKey.objects.filter(key="old").update(created_at=now - timedelta(hours=25))
    ApiIdempotencyKey.objects.filter(key="new").update(created_at=now - timedelta(hours=23))

    assert api_idempotency_keys_purge(now=now) == 1

    assert list(ApiIdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    # A purged key is free again: the note is written anew.
    post(cs, url(ticket, "notes"), {"text": "旧"}, idempotency_key="old")
    assert ticket.events.filter(action="staff_note").count() == 3


def test_the_purge_runs_on_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["purge-idempotency-keys"]
    assert entry["task"] == "tickets.tasks.purge_idempotency_keys"
    assert entry["options"]["expires"] > 0


# --- two at once --------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("action", ["notes", "object"])
def test_two_requests_with_one_key_at_once_act_once(settings, action):
    settings.API_RATE_LIMIT = {"rate": 1000, "burst": 1000}
    # Not the throttle under test: a per-process cache spares each thread a Redis pool.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    raw_key, _ = cs_token()
    ticket = replied_ticket()
    body = {"notes": {"text": "买家来电"}, "object": {"reason": "买家不同意"}}[action]

    # The winner holds its transaction open a moment, so the other's INSERT of the same
    # key must wait on the unique index, then replay, rather than race past a look-up.
    def slow_call(**kwargs):
        inner = kwargs["action"]

        def slow_action():
            result = inner()
            time.sleep(0.3)
            return result

        return idempotent_call(**kwargs | {"action": slow_action})

    def send():
        return Client(headers={"Authorization": f"Bearer {raw_key}"}).post(
            url(ticket, action),
            body,
            content_type="application/json",
            headers={"Idempotency-Key": "twice"},
        )

    lookups = mock.Mock(wraps=idempotency._stored)
    with (
        mock.patch("tickets.api_actions.idempotent_call", side_effect=slow_call),
        mock.patch.object(idempotency, "_stored", lookups),
    ):
        responses = run_together(send, send)

    statuses = [getattr(r, "status_code", repr(r)) for r in responses]
    assert statuses == [200, 200], statuses
    replayed = sorted(r.has_header("Idempotent-Replayed") for r in responses)
    assert replayed == [False, True]
    assert responses[0].json() == responses[1].json()
    wanted = {"notes": "staff_note", "object": "escalated"}[action]
    assert TicketEvent.objects.filter(ticket=ticket, action=wanted).count() == 1
    assert ApiIdempotencyKey.objects.count() == 1
    # Both looked first and found nothing; the loser looked again after its INSERT
    # waited for the winner's commit and failed on the unique index.
    assert lookups.call_count == 3


# --- the audit trail ----------------------------------------------------------------------


def test_each_call_is_audited_the_replay_and_the_refusal_too(cs):
    from audit.models import AuditEntry, Via

    ticket = replied_ticket()

    post(cs, url(ticket, "confirm"), idempotency_key="a-1")
    post(cs, url(ticket, "confirm"), idempotency_key="a-1")
    post(cs, url(ticket, "confirm"), idempotency_key="a-2")

    entries = AuditEntry.objects.order_by("pk")
    assert [(e.via, e.method, e.path, e.status_code) for e in entries] == [
        (Via.API, "POST", url(ticket, "confirm"), 200),
        (Via.API, "POST", url(ticket, "confirm"), 200),
        (Via.API, "POST", url(ticket, "confirm"), 409),
    ]
    assert {e.actor.username for e in entries} == {"cs-bot"}

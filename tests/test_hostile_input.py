"""Hostile input: whatever a client sends, the answer is a documented 4xx, never a 500,
and a refusal writes nothing."""

import io
import json
import zipfile
from pathlib import Path
from unittest import mock

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core import signals
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import close_old_connections
from django.test import Client
from django.test.client import MULTIPART_CONTENT
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from PIL import Image, ImageFile
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from audit.models import AuditEntry
from config.wsgi import application
from merchants.models import Store
from tests.concurrency import run_together
from tests.factories import (
    MembershipFactory,
    StoreFactory,
    TicketFactory,
    UserFactory,
    png_claiming,
    replied_ticket,
)
from tickets.models import Evidence, Ticket, TicketEvent
from tickets.services.evidence import evidence_file_check, evidence_upload
from tickets.services.tokens import api_token_create

pytestmark = pytest.mark.django_db

OPENAPI_URL = "/api/v1/openapi.json"
STORE_CODE = "FUZZ-SHOP"


def _raw_key() -> str:
    user = UserFactory(username="cs-bot")
    # The intake, every permission the CS actions ask and the event feed (GET
    # /api/v1/events), so their 2xx answers are fuzzed too.
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=["tickets", "integration"],
            codename__in=[
                "use_intake_api",
                "confirm_ticket",
                "escalate_ticket",
                "change_ticket",
                "add_evidence",
                "read_event_feed",
            ],
        )
    )
    return api_token_create(user=user, name="platform CS")[1]


# --- fuzzing the OpenAPI document -----------------------------------------------------------


# Every operation in the document, each fuzzed with valid and with invalid input.
OPERATIONS = [
    ("POST", "/api/v1/tickets"),
    ("GET", "/api/v1/tickets/{number}"),
    ("POST", "/api/v1/tickets/{number}/confirm"),
    ("POST", "/api/v1/tickets/{number}/object"),
    ("POST", "/api/v1/tickets/{number}/notes"),
    ("POST", "/api/v1/tickets/{number}/evidence"),
    ("GET", "/api/v1/tickets/{number}/timeline"),
    ("GET", "/api/v1/events"),
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


@pytest.fixture
def intake_schema(db, settings):
    # Hundreds of requests from one token in seconds: the bucket would answer 429 to most.
    settings.API_RATE_LIMIT = {"rate": 1_000_000, "burst": 1_000_000}
    # Like django.test.Client: a request must not close the test's connection (and so its
    # transaction) when it finishes.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi(OPENAPI_URL, application)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_every_operation_of_the_document_is_fuzzed(intake_schema):
    found = {
        (result.ok().method.upper(), result.ok().path)
        for result in intake_schema.get_all_operations()
    }
    assert found == set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_the_api_answers_every_generated_request_as_documented(intake_schema, method, path, mode):
    StoreFactory(code=STORE_CODE)
    headers = {"Authorization": f"Bearer {_raw_key()}"}
    operation = intake_schema[path][method]
    # The actions' valid requests aim at a replied ticket: the first confirm or objection
    # succeeds, the rest meet a closed or escalated one (409). Each operation writes at
    # most one note or file per example, so the run stays bounded.
    ticket = replied_ticket(store=Store.objects.get(code=STORE_CODE))

    # Seeded (derandomize) and bounded: the same requests on every run, in a few seconds.
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        # A valid ticket aims at a store that exists, so 201/200 answers are checked too.
        if mode.is_positive and isinstance(case.body, dict) and "store_code" in case.body:
            case.body["store_code"] = STORE_CODE
        if mode.is_positive and case.path_parameters and "number" in case.path_parameters:
            case.path_parameters["number"] = ticket.number
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()


# --- bodies no client should send ------------------------------------------------------------


TICKETS_URL = "/api/v1/tickets"


@pytest.fixture
def api():
    StoreFactory(code=STORE_CODE)
    return Client(headers={"Authorization": f"Bearer {_raw_key()}"})


def _ticket(**overrides) -> dict:
    body = {
        "number": "CS-HOSTILE-1",
        "store_code": STORE_CODE,
        "order_number": "O-1",
        "summary": "买家催发货",
    }
    return body | overrides


def _assert_nothing_written():
    assert not Ticket.objects.exists()
    assert not TicketEvent.objects.exists()


def test_a_10_mb_body_is_refused_unread_with_413(api, settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 1024 * 1024
    body = json.dumps(_ticket(summary="催" * (10 * 1024 * 1024 // 3)))

    response = api.post(TICKETS_URL, body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json() == {"detail": "The request body is larger than 1024 KB."}
    _assert_nothing_written()


def test_a_body_just_under_the_limit_is_read(api):
    body = json.dumps(_ticket(summary="x" * (1024 * 1024 - 1000)))

    response = api.post(TICKETS_URL, body, content_type="application/json")

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(json.dumps(_ticket()), "text/plain", id="json-as-text-plain"),
        # The test client encodes a dict as a multipart form.
        pytest.param(_ticket(), MULTIPART_CONTENT, id="multipart-form"),
        pytest.param("number=CS-HOSTILE-1", "application/x-www-form-urlencoded", id="urlencoded"),
    ],
)
def test_a_body_not_declared_as_json_is_refused_with_415(api, body, content_type):
    response = api.post(TICKETS_URL, body, content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {
        "detail": "Send the ticket as JSON, with Content-Type: application/json."
    }
    _assert_nothing_written()


def test_415_and_413_are_documented(client):
    responses = client.get(OPENAPI_URL).json()["paths"][TICKETS_URL]["post"]["responses"]

    assert {"400", "409", "413", "415", "429"} <= set(responses)


def test_invalid_utf8_is_refused_with_400(api):
    body = b'{"number": "CS-\xff\xfe", "store_code": "' + STORE_CODE.encode() + b'"}'

    response = api.post(TICKETS_URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"errors": {"__all__": ["Cannot parse request body"]}}
    _assert_nothing_written()


@pytest.mark.parametrize("field", ["number", "order_number", "summary", "consumer_name"])
def test_a_nul_character_is_refused_by_field_not_a_500(api, field):
    response = api.post(
        TICKETS_URL, _ticket(**{field: "CS\x00-1"}), content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == {"errors": {field: ["Text must not contain NUL characters."]}}
    _assert_nothing_written()


def test_a_creation_time_before_2000_is_refused_by_field(api):
    # Found by the fuzzing: year 84 has no ISO-8601 offset in Beijing time (+08:05:43).
    response = api.post(
        TICKETS_URL, _ticket(created_at="0084-05-31T06:32:01Z"), content_type="application/json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["created_at"]
    _assert_nothing_written()


def test_a_nul_in_a_body_key_is_audited_escaped(api):
    # Found by the fuzzing: PostgreSQL's JSON cannot hold NUL; the audit row still lands.
    response = api.post(TICKETS_URL, _ticket(**{"x\x00y": 1}), content_type="application/json")

    assert response.status_code == 201
    (entry,) = AuditEntry.objects.all()
    assert "x\\x00y" in entry.what["keys"]


def test_a_nul_character_in_the_number_read_is_not_found(api):
    response = api.get(f"{TICKETS_URL}/CS%00-1")

    assert response.status_code == 404
    assert response.json() == {"detail": "No ticket has this number."}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_concurrent_posts_of_one_new_number_open_exactly_one_ticket(settings):
    settings.API_RATE_LIMIT = {"rate": 1000, "burst": 1000}
    # Not the throttle under test: a per-process cache spares each thread a Redis pool
    # that would outlive it, unclosed.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    StoreFactory(code=STORE_CODE)
    key = _raw_key()

    def post():
        client = Client(headers={"Authorization": f"Bearer {key}"})
        return client.post(TICKETS_URL, _ticket(), content_type="application/json")

    responses = run_together(*[post] * 20)

    statuses = sorted(getattr(r, "status_code", repr(r)) for r in responses)
    # One opens it; every other retry gets that same ticket back (idempotent on the number).
    assert statuses == [200] * 19 + [201], statuses
    ticket = Ticket.objects.get()
    assert {r.json()["id"] for r in responses} == {ticket.pk}
    assert TicketEvent.objects.filter(ticket=ticket, action="opened").count() == 1


# --- evidence files ------------------------------------------------------------------------


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.html", "<script>alert(document.cookie)</script>")
    return out.getvalue()


PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def member():
    return MembershipFactory()


@pytest.fixture
def ticket(member):
    return TicketFactory(store=member.store)


@pytest.fixture
def merchant(client, member):
    client.force_login(member.user)
    return client


def _stored_files(settings) -> list:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _upload_on_the_ticket_page(merchant, ticket, name, content):
    return merchant.post(
        reverse("ticket_evidence_add", args=[ticket.pk]),
        {"file": SimpleUploadedFile(name, content, content_type="image/jpeg")},
        HTTP_HX_REQUEST="true",
    )


def _assert_refused(response, settings, message):
    assert response.status_code == 200  # the section again, with the form's error
    assert response.context["evidence_form"].errors["file"] == [message]
    assert not Evidence.objects.exists()
    assert not TicketEvent.objects.filter(action="evidence_uploaded").exists()
    assert _stored_files(settings) == []


POLYGLOT = "The file also contains a web page or an archive, so it cannot be accepted."
BOMB = (
    "The image claims more pixels than any picture we can show (a decompression bomb), "
    "so it cannot be accepted."
)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param(
            "photo.jpg",
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            b"<html><body><script>fetch('/account/').then(r => r.text())</script>",
            id="jpeg-header-then-html",
        ),
        pytest.param("photo.jpg", _jpeg() + b"<svg onload=alert(1)>", id="jpeg-then-svg"),
        pytest.param("photo.jpg", _jpeg() + _zip(), id="jpeg-zip"),
        pytest.param("invoice.pdf", PDF + _zip(), id="pdf-zip"),
        pytest.param("invoice.pdf", PDF + bytes(70_000) + _zip(), id="pdf-zip-past-the-head"),
    ],
)
def test_a_polyglot_is_refused_on_the_ticket_page(merchant, ticket, settings, name, content):
    response = _upload_on_the_ticket_page(merchant, ticket, name, content)

    _assert_refused(response, settings, POLYGLOT)


def test_a_polyglot_appeal_file_is_refused_under_its_own_field():
    upload = SimpleUploadedFile("photo.jpg", _jpeg() + _zip())

    with pytest.raises(ValidationError) as excinfo:
        evidence_file_check(upload, field="files")

    assert excinfo.value.error_dict["files"][0].code == "polyglot"


def test_a_genuine_jpeg_and_pdf_are_still_accepted(merchant, ticket):
    for name, content in (("photo.jpg", _jpeg()), ("invoice.pdf", PDF)):
        _upload_on_the_ticket_page(merchant, ticket, name, content)

    assert sorted(Evidence.objects.values_list("content_type", flat=True)) == [
        "application/pdf",
        "image/jpeg",
    ]


def test_a_zero_byte_file_is_refused_on_the_ticket_page(merchant, ticket, settings):
    response = _upload_on_the_ticket_page(merchant, ticket, "empty.jpg", b"")

    _assert_refused(response, settings, "The submitted file is empty.")


def test_a_decompression_bomb_is_refused_undecoded(merchant, ticket, settings):
    # 50000 x 50000 px in a few hundred bytes: refused from its header, never decoded.
    with mock.patch.object(ImageFile.ImageFile, "load") as load:
        response = _upload_on_the_ticket_page(
            merchant, ticket, "bomb.png", png_claiming(50000, 50000)
        )

    assert not load.called
    _assert_refused(response, settings, BOMB)


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("../../etc/passwd.jpg", "passwd.jpg"),
        ("..\\..\\evil.jpg", "evil.jpg"),
        ("evil\x00.php.jpg", "evil.php.jpg"),
        ("...hidden.jpg", "hidden.jpg"),
        (".jpg", "jpg"),
        ("照片" * 200 + ".jpg", None),
    ],
)
def test_a_hostile_file_name_is_cleaned_and_the_file_stays_under_media_root(
    ticket, member, settings, name, kept
):
    item = evidence_upload(
        ticket=ticket,
        user=member.user,
        upload=SimpleUploadedFile(name, _jpeg(), content_type="image/jpeg"),
    )

    item.refresh_from_db()
    assert kept is None or item.original_name == kept
    assert len(item.original_name) <= 255 and item.original_name.endswith("jpg")
    assert not item.original_name.startswith(".")
    assert not {"/", "\\", "\x00"} & set(item.original_name)
    # Stored under the ticket and the content hash, never under the uploader's name.
    media_root = Path(settings.MEDIA_ROOT).resolve()
    stored = Path(item.file.path).resolve()
    assert stored.relative_to(media_root) == Path("evidence", str(ticket.pk), f"{item.sha256}.jpg")
    thumbnail = Path(item.thumbnail.path).resolve()
    assert {p.resolve() for p in _stored_files(settings)} == {stored, thumbnail}
    assert thumbnail.is_relative_to(media_root)

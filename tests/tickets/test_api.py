"""The intake API: the platform CS system opens and reads tickets with a bearer token."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client

from merchants.models import JDBusinessLine
from tests.factories import StoreFactory, TicketFactory, UserFactory
from tickets.models import ApiToken, Ticket, TicketEvent
from tickets.services.tokens import api_token_create

pytestmark = pytest.mark.django_db

TICKETS_URL = "/api/v1/tickets"
# Tue 2026-11-24 17:30 Asia/Shanghai
TUE_1730 = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
# The clock the requests arrive on: a little after the tickets were opened on the platform.
NOW = TUE_1730 + timedelta(minutes=10)


@pytest.fixture(autouse=True)
def _frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


def _service_account(**user_kwargs):
    user = UserFactory(username="cs-bot", **user_kwargs)
    user.user_permissions.add(Permission.objects.get(codename="use_intake_api"))
    return user


@pytest.fixture
def raw_key():
    _, key = api_token_create(user=_service_account(), name="platform CS")
    return key


@pytest.fixture
def api(raw_key):
    # CSRF enforced like a real browserless client would meet it: a bearer token needs none.
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw_key}"})


@pytest.fixture
def store():
    return StoreFactory(code="TB-SHOP-1")


def _body(store_code="TB-SHOP-1", **overrides):
    body = {
        "number": "CS-0001",
        "store_code": store_code,
        "order_number": "O-123",
        "summary": "买家催发货",
        "created_at": "2026-11-24T17:30:00+08:00",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def _post(client, body):
    return client.post(TICKETS_URL, body, content_type="application/json")


def _assert_nothing_written():
    assert not Ticket.objects.exists()
    assert not TicketEvent.objects.exists()


# --- opening --------------------------------------------------------------------------


def test_taobao_ticket_is_opened_and_due_24_hours_later_in_shanghai_time(api, store):
    response = _post(api, _body(category="urge_shipment", consumer_phone="13812345678"))

    assert response.status_code == 201
    data = response.json()
    ticket = Ticket.objects.get()
    assert data == {
        "id": ticket.pk,
        "number": "CS-0001",
        "store_code": "TB-SHOP-1",
        "state": "open",
        "kind": "normal",
        "category": "urge_shipment",
        "worry_free": False,
        "created_at": "2026-11-24T17:30:00+08:00",
        "due_at": "2026-11-25T17:30:00+08:00",
    }
    assert ticket.created_at == TUE_1730
    assert ticket.consumer_phone == "13812345678"


def test_jd_crc_ticket_is_due_after_four_working_hours(api):
    # JD CRC: Tue 17:30 -> Wed 11:30 (1.5 h Tue + 2.5 h Wed), SPEC.md worked example.
    jd = StoreFactory(jd=True)

    response = _post(api, _body(store_code=jd.code, kind="crc_high_risk", worry_free=True))

    assert response.status_code == 201
    data = response.json()
    assert data["kind"] == "crc_high_risk"
    assert data["worry_free"] is True
    assert data["due_at"] == "2026-11-25T11:30:00+08:00"
    assert Ticket.objects.get().priority == Ticket.PRIORITY_CRC


def test_created_at_in_another_offset_is_shown_in_shanghai_time(api, store):
    response = _post(api, _body(created_at="2026-11-24T09:30:00Z"))

    assert response.status_code == 201
    assert response.json()["created_at"] == "2026-11-24T17:30:00+08:00"
    assert Ticket.objects.get().created_at == TUE_1730


def test_created_at_defaults_to_now(api, store):
    response = _post(api, _body(created_at=...))

    assert response.status_code == 201
    assert response.json()["created_at"] == "2026-11-24T17:40:00+08:00"
    assert Ticket.objects.get().created_at == NOW


def test_the_opening_is_recorded_as_the_service_account(api, store):
    _post(api, _body())

    event = TicketEvent.objects.get()
    assert (event.action, event.actor.username) == ("opened", "cs-bot")


def test_same_number_again_returns_the_same_ticket_and_writes_nothing(api, store):
    first = _post(api, _body())
    # A retry may carry different details; the ticket already opened wins, unchanged.
    again = _post(api, _body(summary="retry", created_at="2026-11-24T17:35:00+08:00"))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Ticket.objects.count() == 1
    assert TicketEvent.objects.count() == 1


def test_number_of_another_store_is_a_conflict(api, store):
    TicketFactory(number="CS-0001")

    response = _post(api, _body())

    assert response.status_code == 409
    assert list(response.json()["errors"]) == ["number"]
    assert Ticket.objects.count() == 1


# --- refusals: 400 with field errors, nothing written -----------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"summary": ...}, "summary", id="missing summary"),
        pytest.param({"summary": "   "}, "summary", id="blank summary"),
        pytest.param({"number": "N" * 65}, "number", id="number too long"),
        pytest.param({"kind": "urgent"}, "kind", id="bad kind"),
        pytest.param({"category": "weather"}, "category", id="bad category"),
        pytest.param({"consumer_name": "张" * 101}, "consumer_name", id="name too long"),
        pytest.param({"created_at": "2026-11-24T17:30:00"}, "created_at", id="naive created_at"),
        pytest.param({"created_at": "yesterday"}, "created_at", id="not a datetime"),
        pytest.param({"created_at": 1795000000}, "created_at", id="unix time"),
        # Now is 17:40; five minutes of clock skew are tolerated, six are not.
        pytest.param(
            {"created_at": "2026-11-24T17:46:00+08:00"}, "created_at", id="future created_at"
        ),
    ],
)
def test_invalid_input_is_refused_by_field(api, store, overrides, field):
    response = _post(api, _body(**overrides))

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert errors[field] and all(isinstance(m, str) and m for m in errors[field])
    _assert_nothing_written()


def test_several_invalid_fields_are_all_reported(api, store):
    response = _post(api, _body(summary=..., order_number=..., kind="urgent"))

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"summary", "order_number", "kind"}


def test_created_at_within_the_clock_skew_is_accepted(api, store):
    response = _post(api, _body(created_at="2026-11-24T17:44:00+08:00"))

    assert response.status_code == 201


def test_unknown_store_code_is_refused(api, store):
    response = _post(api, _body(store_code="NO-SUCH-SHOP"))

    assert response.status_code == 400
    assert response.json() == {"errors": {"store_code": ["Unknown store code."]}}
    _assert_nothing_written()


def test_excluded_jd_store_is_refused(api):
    jingxi = StoreFactory(jd=True, jd_business_line=JDBusinessLine.JINGXI)

    response = _post(api, _body(store_code=jingxi.code))

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["store_code"]
    assert "Jingxi" in errors["store_code"][0]
    _assert_nothing_written()


def test_crc_on_a_taobao_store_is_refused(api, store):
    response = _post(api, _body(kind="crc_high_risk"))

    assert response.status_code == 400
    assert response.json() == {"errors": {"kind": ["CRC high-risk complaints exist on JD only."]}}
    _assert_nothing_written()


@pytest.mark.parametrize(
    ("content", "errors"),
    [
        pytest.param("{not json", {"__all__": ["Cannot parse request body"]}, id="broken"),
        pytest.param("", {"__all__": ["Send the ticket as a JSON object."]}, id="empty"),
        pytest.param(
            "[1, 2]",
            {f: ["Field required"] for f in ("number", "store_code", "order_number", "summary")},
            id="list",
        ),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(api, store, content, errors):
    response = api.post(TICKETS_URL, content, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    _assert_nothing_written()


# --- reading ------------------------------------------------------------------------------


def test_get_returns_the_ticket(api, store):
    opened = _post(api, _body()).json()

    response = api.get(f"{TICKETS_URL}/CS-0001")

    assert response.status_code == 200
    assert response.json() == opened


def test_get_unknown_number_is_404(api):
    response = api.get(f"{TICKETS_URL}/CS-9999")

    assert response.status_code == 404
    assert response.json() == {"detail": "No ticket has this number."}


# --- authentication ----------------------------------------------------------------------


def _deny_cases():
    def no_header():
        return {}

    def wrong_key():
        api_token_create(user=_service_account(), name="real")
        return {"Authorization": "Bearer not-the-key"}

    def basic_scheme():
        _, key = api_token_create(user=_service_account(), name="real")
        return {"Authorization": f"Basic {key}"}

    def inactive_token():
        token, key = api_token_create(user=_service_account(), name="revoked")
        ApiToken.objects.filter(pk=token.pk).update(is_active=False)
        return {"Authorization": f"Bearer {key}"}

    def inactive_user():
        _, key = api_token_create(user=_service_account(is_active=False), name="t")
        return {"Authorization": f"Bearer {key}"}

    def user_without_permission():
        _, key = api_token_create(user=UserFactory(username="nobody", is_staff=True), name="t")
        return {"Authorization": f"Bearer {key}"}

    return [
        pytest.param(case, id=case.__name__)
        for case in (
            no_header,
            wrong_key,
            basic_scheme,
            inactive_token,
            inactive_user,
            user_without_permission,
        )
    ]


@pytest.mark.parametrize("headers", _deny_cases())
def test_requests_without_a_valid_token_are_401(store, headers):
    client = Client(headers=headers())

    post = _post(client, _body())
    get = client.get(f"{TICKETS_URL}/CS-0001")

    for response in (post, get):
        assert response.status_code == 401
        assert response.json() == {"detail": "Unauthorized"}
        assert response["WWW-Authenticate"] == "Bearer"
    _assert_nothing_written()


def test_superuser_token_is_accepted_without_the_explicit_permission(store):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    _, key = api_token_create(user=admin, name="t")

    response = _post(Client(headers={"Authorization": f"Bearer {key}"}), _body())

    assert response.status_code == 201


def test_a_used_token_records_when(api, store):
    assert ApiToken.objects.get().last_used_at is None

    api.get(f"{TICKETS_URL}/CS-0001")

    assert ApiToken.objects.get().last_used_at == NOW


# --- the OpenAPI document -------------------------------------------------------------------


def test_openapi_document_lists_both_paths(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Xietong intake API"
    assert set(document["paths"]) >= {"/api/v1/tickets", "/api/v1/tickets/{number}"}
    assert "post" in document["paths"]["/api/v1/tickets"]
    assert "get" in document["paths"]["/api/v1/tickets/{number}"]
    assert document["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"

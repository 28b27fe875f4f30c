"""GET /api/v1/events: the event stream after a cursor, with the intake API's tokens."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from integration.feed import EVENT_RELATED, cursor_encode, position_of
from integration.schemas import event_json
from tests.factories import UserFactory
from tickets.models import TicketEvent
from tickets.services.tokens import api_token_create

from .conftest import note, open_ticket, settle

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

URL = "/api/v1/events"


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.API_RATE_LIMIT = {"rate": 1_000_000, "burst": 1_000_000}


def _client(*codenames) -> Client:
    user = UserFactory(username="cs-feed")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    _, key = api_token_create(user=user, name="platform CS")
    return Client(headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def api():
    return _client("use_intake_api", "read_event_feed")


def _events(store, n_notes=2):
    ticket = open_ticket(store, "CS-F1")
    notes = [note(ticket, f"note {i}") for i in range(n_notes)]
    settle()
    return [TicketEvent.objects.get(ticket=ticket, action="opened"), *notes]


def test_the_feed_pages_through_the_stream_with_its_cursor(api, store):
    events = _events(store, n_notes=4)

    first = api.get(URL, {"limit": 2})
    assert first.status_code == 200
    body = first.json()
    assert [e["id"] for e in body["events"]] == [f"evt_{e.pk}" for e in events[:2]]
    assert body["next"] == cursor_encode(position_of(events[1]))
    rest = api.get(URL, {"after": body["next"], "limit": 500}).json()
    assert [e["id"] for e in rest["events"]] == [f"evt_{e.pk}" for e in events[2:]]
    # Nothing new: the same cursor back, to poll with.
    empty = api.get(URL, {"after": rest["next"]}).json()
    assert empty == {"events": [], "next": rest["next"]}


def test_an_event_as_the_feed_shows_it(api, store):
    opened, _ = _events(store, n_notes=1)

    event = api.get(URL).json()["events"][0]

    assert event["id"] == f"evt_{opened.pk}"
    assert event["type"] == "ticket.opened"
    assert event["occurred_at"] == "2026-11-24T02:00:00Z"
    ticket = event["ticket"]
    assert (ticket["number"], ticket["store_code"], ticket["platform"]) == (
        "CS-F1",
        "TB-HOOK-1",
        "taobao",
    )
    assert (ticket["state"], ticket["kind"]) == ("open", "normal")
    assert ticket["due_at"] == "2026-11-25T10:00:00+08:00"
    assert event["data"] == {
        "action": "opened",
        "from_state": None,
        "to_state": "open",
        "reason": "",
        "payload": opened.payload,
        "actor": None,
    }


def test_a_webhook_body_is_the_feeds_json_for_the_event(api, store):
    events = _events(store, n_notes=1)
    loaded = TicketEvent.objects.select_related(*EVENT_RELATED).get(pk=events[1].pk)

    feed_event = api.get(URL).json()["events"][1]

    assert json.loads(event_json(loaded)) == feed_event


def test_the_feed_filters_by_type_and_moves_past_the_rest(api, store):
    events = _events(store, n_notes=2)

    body = api.get(URL, {"types": "ticket.opened, ticket.closed"}).json()

    assert [e["id"] for e in body["events"]] == [f"evt_{events[0].pk}"]
    assert body["next"] == cursor_encode(position_of(events[-1]))


def test_a_fixed_number_of_queries_whatever_the_page_size(
    api, store, django_assert_max_num_queries
):
    _events(store, n_notes=1)
    with CaptureQueriesContext(connection) as few:
        assert len(api.get(URL).json()["events"]) == 2
    ticket = open_ticket(store, "CS-F2")
    for i in range(10):
        note(ticket, f"more {i}")
    settle()
    # token, last_used_at, the user's permissions (2), the horizon, the events
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get(URL).json()["events"]) == 13

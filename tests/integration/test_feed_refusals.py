"""GET /api/v1/events refuses what it cannot answer, and writes nothing doing so (no
committed events needed: plain test transactions)."""

import pytest
from django.test import Client

from integration.models import Subscriber, WebhookAttempt
from tickets.models import TicketEvent

from .test_feed import URL, _client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_throttle(settings):
    settings.API_RATE_LIMIT = {"rate": 1_000_000, "burst": 1_000_000}


@pytest.fixture
def api():
    return _client("use_intake_api", "read_event_feed")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "not-a-cursor"}, "after"),
        ({"after": "MS4wMg"}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"types": "ticket.opened,ticket.exploded"}, "types"),
    ],
)
def test_bad_input_is_a_400_keyed_by_field(api, params, field):
    events = TicketEvent.objects.count()
    response = api.get(URL, params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert TicketEvent.objects.count() == events
    assert not Subscriber.objects.exists() and not WebhookAttempt.objects.exists()


def test_no_token_is_401_and_a_token_without_the_permission_403():
    assert Client().get(URL).status_code == 401
    response = _client("use_intake_api").get(URL)
    assert response.status_code == 403
    assert response.json() == {"detail": "This API token may not read the event feed."}


def test_the_feed_is_in_the_openapi_document(api):
    document = api.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/events"]["get"]
    assert operation["operationId"] == "events_feed"
    assert {"200", "400", "401", "403"} <= set(operation["responses"])

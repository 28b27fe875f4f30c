"""The admin: subscribers (add at the head, pause, resume) and the delivery log (send again)."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integration.feed import feed_head
from integration.models import Subscriber, WebhookAttempt
from tests.factories import TicketFactory
from tickets.models import TicketEvent

from .conftest import note

pytestmark = pytest.mark.django_db

T = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
SUBSCRIBERS = reverse("admin:integration_subscriber_changelist")
ATTEMPTS = reverse("admin:integration_webhookattempt_changelist")


def _subscriber(name="cs", url="http://127.0.0.1:9/hook", **fields) -> Subscriber:
    return Subscriber.objects.create(name=name, url=url, created_at=T, **fields)


def _attempts(n: int, subscriber: Subscriber) -> list[WebhookAttempt]:
    made = []
    for i in range(n):
        ticket = TicketFactory()
        event = note(ticket, f"note {i}")
        made.append(
            WebhookAttempt.objects.create(
                subscriber=subscriber,
                event=event,
                event_type="ticket.note_added",
                attempt=1,
                status_code=500,
                error="HTTP 500",
                duration_ms=12,
                request_body="{}",
                sent_at=T,
            )
        )
    return made


def test_adding_a_subscriber_starts_it_at_the_head_with_a_secret(admin_client):
    note(TicketFactory(), "history")

    response = admin_client.post(
        reverse("admin:integration_subscriber_add"),
        {
            "name": "platform CS",
            "url": "https://cs.example.com/hooks/xietong",
            "event_types": ["ticket.opened", "ticket.closed"],
            "is_active": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    subscriber = Subscriber.objects.get()
    assert subscriber.event_types == ["ticket.opened", "ticket.closed"]
    assert len(subscriber.secret) == 64
    assert subscriber.cursor == feed_head()


def test_a_subscriber_added_inactive_stays_inactive(admin_client):
    response = admin_client.post(
        reverse("admin:integration_subscriber_add"),
        {"name": "later", "url": "https://cs.example.com/hooks/later", "event_types": []},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    subscriber = Subscriber.objects.get()
    assert subscriber.is_active is False
    assert subscriber.cursor == feed_head()


def test_an_unknown_event_type_is_refused_and_nothing_saved(admin_client):
    response = admin_client.post(
        reverse("admin:integration_subscriber_add"),
        {"name": "x", "url": "https://x.example.com/", "event_types": ["ticket.exploded"]},
    )
    assert response.status_code == 200
    assert not Subscriber.objects.exists()


def test_pause_and_resume_actions(admin_client):
    subscriber = _subscriber(consecutive_failures=3)

    admin_client.post(SUBSCRIBERS, {"action": "pause", ACTION_CHECKBOX_NAME: [subscriber.pk]})
    subscriber.refresh_from_db()
    assert subscriber.paused_at is not None
    assert "PAUSED since" in admin_client.get(SUBSCRIBERS).content.decode()

    admin_client.post(SUBSCRIBERS, {"action": "resume", ACTION_CHECKBOX_NAME: [subscriber.pk]})
    subscriber.refresh_from_db()
    assert (subscriber.paused_at, subscriber.consecutive_failures) == (None, 0)


def test_send_again_posts_the_events_as_redeliveries(admin_client, make_receiver):
    receiver = make_receiver()
    subscriber = _subscriber(url=receiver.url)
    (old,) = _attempts(1, subscriber)

    response = admin_client.post(
        ATTEMPTS, {"action": "send_again", ACTION_CHECKBOX_NAME: [old.pk]}, follow=True
    )

    assert "Sent again: 1, of which 1 answered 2xx" in response.content.decode()
    new = WebhookAttempt.objects.exclude(pk=old.pk).get()
    assert (new.is_redelivery, new.attempt, new.status_code) == (True, 2, 204)
    assert receiver.event_ids == [f"evt_{old.event_id}"]


def test_attempts_are_read_only(admin_client):
    (attempt,) = _attempts(1, _subscriber())
    change = reverse("admin:integration_webhookattempt_change", args=[attempt.pk])
    admin_client.post(change, {"status_code": 200})
    attempt.refresh_from_db()
    assert attempt.status_code == 500


@pytest.mark.parametrize("url", [SUBSCRIBERS, ATTEMPTS])
def test_the_lists_cost_the_same_queries_for_one_row_or_many(
    admin_client, url, django_assert_max_num_queries
):
    subscriber = _subscriber(paused_at=T, pause_reason="broken")
    _attempts(1, subscriber)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    for i in range(6):
        _subscriber(name=f"more {i}")
    _attempts(6, subscriber)
    assert TicketEvent.objects.count() == 7
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get(url).status_code == 200

"""Live updates: the store's ticket events as Server-Sent Events, resumable with
Last-Event-ID, never another store's and never a staff note; woken by Redis when
there is one, by reading the event log when there is not."""

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from tests.factories import MembershipFactory, StoreFactory, TicketFactory, UserFactory
from tickets.live import live_latest_id, live_publish, live_stream
from tickets.services.common import ticket_event_write
from tickets.services.team import ticket_staff_update


def events_in(text: str) -> list[tuple[int, dict]]:
    import json

    found = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if lines.get("event") == "ticket":
            found.append((int(lines["id"]), json.loads(lines["data"])))
    return found


def read(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def short_streams(settings):
    settings.LIVE_STREAM_SECONDS = 0.3
    settings.LIVE_POLL_SECONDS = 0.05
    settings.LIVE_KEEPALIVE_SECONDS = 0.1


@pytest.mark.django_db
@pytest.mark.parametrize("redis_url", ["", None], ids=["polling", "as-configured"])
def test_a_stream_sends_the_stores_events_after_the_given_id(
    client, settings, short_streams, redis_url
):
    if redis_url is not None:
        settings.REDIS_URL = redis_url
    member = MembershipFactory()
    mine = TicketFactory(store=member.store)
    theirs = TicketFactory(store=StoreFactory())
    start = live_latest_id()
    at = mine.created_at
    first = ticket_event_write(ticket=mine, action="contact_logged", actor=None, at=at)
    ticket_event_write(ticket=theirs, action="contact_logged", actor=None, at=at)
    root = UserFactory(username="root-live", is_superuser=True, is_staff=True)
    ticket_staff_update(ticket=mine, user=root, assignee=None, note="internal")
    second = ticket_event_write(ticket=mine, action="escalated", actor=None, at=at)
    client.force_login(member.user)

    response = client.get(reverse("live_events"), HTTP_LAST_EVENT_ID=str(start))

    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    body = read(response)
    assert body.startswith("retry: ")
    assert events_in(body) == [
        (first.pk, {"ticket": mine.pk, "action": "contact_logged"}),
        (second.pk, {"ticket": mine.pk, "action": "escalated"}),
    ]
    # Resuming after the first event sends only the second.
    again = read(client.get(reverse("live_events"), HTTP_LAST_EVENT_ID=str(first.pk)))
    assert [pk for pk, _ in events_in(again)] == [second.pk]
    # A new stream with no id starts after what exists.
    assert events_in(read(client.get(reverse("live_events")))) == []


@pytest.mark.django_db
def test_the_stream_needs_a_store_member(client):
    assert client.get(reverse("live_events")).status_code == 302
    client.force_login(UserFactory())
    assert client.get(reverse("live_events")).status_code == 403


@pytest.mark.redis
# The stream reads in another thread: the data must be committed; the seeded policies
# and groups come back after the flush.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_redis_wakes_a_waiting_stream_within_a_second(settings):
    # Long fallback: only the published message can wake the stream in time.
    settings.LIVE_FALLBACK_SECONDS = 30
    settings.LIVE_KEEPALIVE_SECONDS = 30
    member = MembershipFactory()
    ticket = TicketFactory(store=member.store)
    received = []

    def listen():
        from django.db import connection

        for chunk in live_stream(store_id=member.store_id, after_id=live_latest_id(), seconds=5):
            received.append((time.monotonic(), chunk))
            if "event: ticket" in chunk:
                break
        connection.close()

    thread = threading.Thread(target=listen)
    thread.start()
    time.sleep(0.5)  # the stream is subscribed and waiting
    written = time.monotonic()
    ticket_event_write(ticket=ticket, action="escalated", actor=None, at=ticket.created_at)
    live_publish([member.store_id])
    thread.join(timeout=10)

    delivered = [(at, chunk) for at, chunk in received if "event: ticket" in chunk]
    assert delivered, received
    assert delivered[0][0] - written < 1.0


def test_without_redis_publishing_touches_no_server(settings, monkeypatch):
    import tickets.live

    calls = []
    monkeypatch.setattr(tickets.live, "_redis", lambda: calls.append("connect"))
    settings.REDIS_URL = ""
    live_publish([1, 2, 3])
    assert calls == []


def test_a_redis_failure_is_logged_never_raised(settings, monkeypatch, caplog):
    import tickets.live

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    monkeypatch.setattr(tickets.live, "_redis_client", None)
    live_publish([7])
    assert "Could not publish live updates" in caplog.text
    monkeypatch.setattr(tickets.live, "_redis_client", None)  # not kept for other tests


@pytest.mark.django_db
def test_a_stream_states_its_position_first_so_a_reconnect_loses_nothing(
    client, settings, short_streams
):
    settings.REDIS_URL = ""
    member = MembershipFactory()
    ticket = TicketFactory(store=member.store)
    client.force_login(member.user)
    start = live_latest_id()

    # A stream that sends no event still tells the browser where it stood...
    body = read(client.get(reverse("live_events")))
    assert body.startswith(f"retry: {settings.LIVE_RETRY_MS}\nid: {start}\n\n")
    # ...so what is written before the browser reconnects comes with the next stream.
    event = ticket_event_write(ticket=ticket, action="escalated", actor=None, at=ticket.created_at)
    again = read(client.get(reverse("live_events"), HTTP_LAST_EVENT_ID=str(start)))
    assert [pk for pk, _ in events_in(again)] == [event.pk]


@pytest.mark.django_db
def test_a_section_swap_says_which_events_the_page_now_shows(client):
    # The browser skips the live echo of its own change (static/js/dashboard.js).
    member = MembershipFactory()
    ticket = TicketFactory(store=member.store)
    client.force_login(member.user)
    page = client.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()
    assert 'data-seen-event="0"' in page
    with time_machine.travel(ticket.created_at + timedelta(hours=1), tick=False):
        response = client.post(
            reverse("ticket_contact_add", args=[ticket.pk]),
            {"channel": "phone", "attempted_at": "2026-11-24T10:30", "note": ""},
            HTTP_HX_REQUEST="true",
        )
    latest = ticket.events.latest("pk").pk
    assert response["X-Seen-Event"] == str(latest)

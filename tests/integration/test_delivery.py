"""Webhook delivery over 127.0.0.1: signed, in order, one at a time, backed off on
failure, paused after N failures, resumed without losing an event."""

import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError

from integration.feed import feed_head, position_of
from integration.models import Subscriber, WebhookAttempt
from integration.services import (
    backoff,
    subscriber_deliver,
    subscribers_due,
    subscribers_pause,
    subscribers_resume,
    webhook_attempts_redeliver,
)
from integration.signing import verify_signature
from integration.tasks import webhook_dispatch
from tickets.models import TicketEvent

from .conftest import NOW, note, open_ticket, settle, subscribe

# The feed only shows committed events (below the oldest running transaction): the
# tests commit like the services do.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def deliver(subscriber, now=NOW):
    settle()
    return subscriber_deliver(subscriber_id=subscriber.pk, now=now)


def test_events_arrive_signed_in_order_once(make_receiver, store):
    receiver = make_receiver()
    subscriber = subscribe(receiver.url)
    ticket = open_ticket(store, "CS-1")
    notes = [note(ticket, f"note {i}") for i in range(3)]

    run = deliver(subscriber)

    assert (run.status, run.delivered, run.more) == ("done", 4, False)
    opened = TicketEvent.objects.get(ticket=ticket, action="opened")
    assert receiver.event_ids == [f"evt_{e.pk}" for e in [opened, *notes]]
    first = receiver.requests[0]
    headers, body = first.headers, first.body
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Xietong-Event-Id"] == f"evt_{opened.pk}"
    assert headers["X-Xietong-Event-Type"] == "ticket.opened"
    assert verify_signature(
        subscriber.secret,
        headers["X-Xietong-Timestamp"],
        body,
        headers["X-Xietong-Signature"],
        now=int(headers["X-Xietong-Timestamp"]),
    )
    event = json.loads(body)
    assert event["type"] == "ticket.opened"
    assert event["ticket"]["number"] == "CS-1"
    assert event["ticket"]["store_code"] == "TB-HOOK-1"
    assert event["ticket"]["platform"] == "taobao"
    assert event["occurred_at"] == "2026-11-24T02:00:00Z"
    assert event["data"]["to_state"] == "open"
    # Nothing new: a second run sends nothing again.
    assert deliver(subscriber).delivered == 0
    assert len(receiver.requests) == 4
    subscriber.refresh_from_db()
    assert subscriber.cursor_event_id == notes[-1].pk
    assert WebhookAttempt.objects.filter(subscriber=subscriber, status_code=204).count() == 4


def test_a_new_subscriber_gets_no_history(make_receiver, store):
    ticket = open_ticket(store, "CS-OLD")
    receiver = make_receiver()
    subscriber = subscribe(receiver.url)
    assert subscriber.cursor == feed_head()
    new = note(ticket, "after subscribing")

    deliver(subscriber)

    assert receiver.event_ids == [f"evt_{new.pk}"]


def test_a_failure_blocks_later_events_until_retried_with_backoff(make_receiver, store):
    receiver = make_receiver()
    subscriber = subscribe(receiver.url)
    ticket = open_ticket(store, "CS-2")
    second = note(ticket, "second")
    receiver.statuses = [204, 500]  # the opening goes through, the note fails

    run = deliver(subscriber)

    assert (run.status, run.delivered) == ("failed", 1)
    subscriber.refresh_from_db()
    assert subscriber.consecutive_failures == 1
    assert subscriber.next_attempt_at == NOW + timedelta(seconds=10)
    # Moved past the delivered opening, not past the failed note.
    opened = TicketEvent.objects.get(ticket=ticket, action="opened")
    assert subscriber.cursor == position_of(opened)
    failed = WebhookAttempt.objects.get(event=second)
    assert (failed.status_code, failed.attempt) == (500, 1)
    assert failed.error == "HTTP 500: Internal Server Error"

    # A later event waits behind the failed one.
    third = note(ticket, "third")
    # Not before the backoff: not due, and a run now does nothing.
    assert subscriber.pk not in subscribers_due(now=NOW + timedelta(seconds=9))
    assert deliver(subscriber, NOW + timedelta(seconds=9)).status == "skipped"
    assert len(receiver.requests) == 2

    later = NOW + timedelta(seconds=10)
    assert subscriber.pk in subscribers_due(now=later)
    run = deliver(subscriber, later)

    assert (run.status, run.delivered) == ("done", 2)
    ids = receiver.event_ids
    assert ids[1:] == [f"evt_{second.pk}", f"evt_{second.pk}", f"evt_{third.pk}"]
    assert WebhookAttempt.objects.filter(event=second).order_by("pk")[1].attempt == 2
    subscriber.refresh_from_db()
    assert (subscriber.consecutive_failures, subscriber.next_attempt_at) == (0, None)


def test_backoff_doubles_from_ten_seconds_up_to_an_hour():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert backoff(9).total_seconds() == 2560
    assert backoff(10) == backoff(500) == timedelta(hours=1)


def test_after_n_failures_the_subscriber_pauses_and_ops_hear_of_it(make_receiver, store, settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.WEBHOOK_PAUSE_AFTER_FAILURES = 3
    receiver = make_receiver(default=503)
    subscriber = subscribe(receiver.url)
    open_ticket(store, "CS-3")

    now = NOW
    statuses = []
    for _ in range(3):
        statuses.append(deliver(subscriber, now).status)
        subscriber.refresh_from_db()
        now = subscriber.next_attempt_at

    assert statuses == ["failed", "failed", "paused"]
    assert subscriber.paused_at is not None
    assert "3 consecutive failed deliveries" in subscriber.pause_reason
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.com"]
    assert "cs" in mail.outbox[0].subject
    # Paused: never due, whatever the time, and a run does nothing.
    far = now + timedelta(days=1)
    assert subscriber.pk not in subscribers_due(now=far)
    assert deliver(subscriber, far).status == "skipped"
    assert len(receiver.requests) == 3
    assert [a.attempt for a in WebhookAttempt.objects.order_by("pk")] == [1, 2, 3]


def test_resume_continues_from_the_cursor_without_losing_events(make_receiver, store):
    receiver = make_receiver()
    subscriber = subscribe(receiver.url)
    ticket = open_ticket(store, "CS-4")
    assert subscribers_pause(subscriber_ids=[subscriber.pk], reason="maintenance", now=NOW) == 1
    while_paused = note(ticket, "while paused")
    assert deliver(subscriber).status == "skipped"

    assert subscribers_resume(subscriber_ids=[subscriber.pk]) == 1
    subscriber.refresh_from_db()
    assert (subscriber.paused_at, subscriber.consecutive_failures) == (None, 0)
    deliver(subscriber)

    opened = TicketEvent.objects.get(ticket=ticket, action="opened")
    assert receiver.event_ids == [f"evt_{opened.pk}", f"evt_{while_paused.pk}"]


def test_a_subscriber_gets_only_its_types_and_moves_past_the_others(make_receiver, store):
    receiver = make_receiver()
    subscriber = subscribe(receiver.url, event_types=["ticket.opened"])
    ticket = open_ticket(store, "CS-5")
    last = note(ticket, "not for this subscriber")

    deliver(subscriber)

    assert [e["type"] for e in receiver.events] == ["ticket.opened"]
    subscriber.refresh_from_db()
    # Past the note too: the next run does not walk over it again.
    assert subscriber.cursor_event_id == last.pk


def test_a_failing_subscriber_does_not_hold_up_a_healthy_one(make_receiver, store):
    healthy, failing = make_receiver(), make_receiver(default=500)
    good = subscribe(healthy.url, name="good")
    bad = subscribe(failing.url, name="bad")
    ticket = open_ticket(store, "CS-6")
    for i in range(3):
        note(ticket, f"note {i}")

    settle()
    with time_machine.travel(NOW, tick=False):
        assert webhook_dispatch() == 2  # eager: each subscriber's task runs inline

    assert len(healthy.requests) == 4
    assert len(failing.requests) == 1  # stopped at its first failure
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.consecutive_failures == 0 and good.next_attempt_at is None
    assert bad.consecutive_failures == 1
    assert bad.next_attempt_at == NOW + timedelta(seconds=10)
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        assert webhook_dispatch() == 1  # only the healthy one is due


def test_an_unreachable_receiver_is_a_failure_not_an_error(store):
    subscriber = subscribe("http://127.0.0.1:9/nothing-listens")
    open_ticket(store, "CS-7")

    run = deliver(subscriber)

    assert run.status == "failed"
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert "Connection refused" in attempt.error or "URLError" in attempt.error


def test_a_receiver_slower_than_the_timeout_is_a_failure(make_receiver, store, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    receiver = make_receiver()
    receiver.delay = 1.0
    subscriber = subscribe(receiver.url)
    open_ticket(store, "CS-SLOW")

    run = deliver(subscriber)

    assert run.status == "failed"
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert "timed out" in attempt.error
    assert attempt.duration_ms < 1000


def test_a_redirect_is_not_a_success(make_receiver, store):
    receiver = make_receiver(default=302)
    subscriber = subscribe(receiver.url)
    open_ticket(store, "CS-8")

    assert deliver(subscriber).status == "failed"
    assert WebhookAttempt.objects.get().status_code == 302


def test_a_run_stops_at_its_budget_and_the_task_carries_on(make_receiver, store, settings):
    settings.WEBHOOK_RUN_MAX_EVENTS = 2
    receiver = make_receiver()
    subscriber = subscribe(receiver.url)
    ticket = open_ticket(store, "CS-9")
    for i in range(4):
        note(ticket, f"note {i}")

    run = deliver(subscriber)
    assert (run.status, run.delivered, run.more) == ("done", 2, True)
    assert len(receiver.requests) == 2

    from integration.tasks import webhook_deliver

    settle()
    webhook_deliver(subscriber.pk)  # queues its sequel (eager here) until done
    assert len(receiver.requests) == 5
    assert len(set(receiver.event_ids)) == 5


def test_a_claimed_subscriber_is_not_run_twice_until_its_lease_expires(make_receiver, store):
    receiver = make_receiver()
    subscriber = subscribe(receiver.url)
    open_ticket(store, "CS-10")
    # A worker claimed it and died.
    Subscriber.objects.filter(pk=subscriber.pk).update(claimed_at=NOW)

    assert deliver(subscriber, NOW + timedelta(seconds=60)).status == "skipped"
    assert subscriber.pk not in subscribers_due(now=NOW + timedelta(seconds=60))
    run = deliver(subscriber, NOW + timedelta(seconds=121))
    assert (run.status, run.delivered) == ("done", 1)


def test_staff_send_an_attempt_again_as_a_redelivery(make_receiver, store):
    receiver = make_receiver()
    subscriber = subscribe(receiver.url)
    ticket = open_ticket(store, "CS-11")
    assert deliver(subscriber).delivered == 1, Subscriber.objects.values().get()
    first = WebhookAttempt.objects.get()
    cursor = Subscriber.objects.get().cursor

    sent, skipped = webhook_attempts_redeliver(attempt_ids=[first.pk])

    assert skipped == 0
    assert [(a.attempt, a.is_redelivery, a.status_code) for a in sent] == [(2, True, 204)]
    assert receiver.event_ids == [f"evt_{first.event_id}"] * 2
    assert receiver.requests[1].body == receiver.requests[0].body
    assert Subscriber.objects.get().cursor == cursor  # the stream's position is untouched
    assert ticket.pk == first.event.ticket_id


def test_a_subscriber_with_an_unknown_type_is_refused_and_nothing_written():
    with pytest.raises(ValidationError) as refused:
        subscribe("https://cs.example.com/hook", event_types=["ticket.exploded"])
    assert "event_types" in refused.value.message_dict
    assert not Subscriber.objects.exists()


def test_pausing_twice_or_resuming_an_active_subscriber_changes_nothing(make_receiver):
    subscriber = subscribe(make_receiver().url)
    assert subscribers_resume(subscriber_ids=[subscriber.pk]) == 0
    assert subscribers_pause(subscriber_ids=[subscriber.pk], reason="first", now=NOW) == 1
    assert (
        subscribers_pause(subscriber_ids=[subscriber.pk], reason="second", now=NOW + timedelta(1))
        == 0
    )
    subscriber.refresh_from_db()
    assert (subscriber.pause_reason, subscriber.paused_at) == ("first", NOW)


@pytest.mark.redis
def test_a_real_worker_on_both_queues_delivers_what_beat_dispatches(make_receiver, store):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    receiver = make_receiver()
    subscribe(receiver.url)
    open_ticket(store, "CS-WORKER")
    settle()
    app.conf.task_always_eager = False
    with app.connection_for_write() as conn:
        for queue in ("celery", "webhooks"):
            conn.default_channel.queue_purge(queue)
    # The Procfile's worker: -Q celery,webhooks.
    with start_worker(
        app,
        pool="solo",
        perform_ping_check=False,
        shutdown_timeout=10,
        queues=["celery", "webhooks"],
    ):
        webhook_dispatch.delay()
        deadline = time.monotonic() + 30
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.1)
    assert [e["type"] for e in receiver.events] == ["ticket.opened"]
    assert WebhookAttempt.objects.get().status_code == 204

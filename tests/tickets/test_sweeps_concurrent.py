"""Sweeps under concurrency on PostgreSQL, and a real Celery worker on Redis."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.concurrency import run_together
from tests.factories import StoreFactory, TicketFactory
from tickets.models import Notification, Reminder, Ticket, TicketEvent
from tickets.services.sweeps import sweep_escalations, sweep_reminders, sweep_run

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def backlog(n):
    store = StoreFactory()
    tickets = TicketFactory.create_batch(n, store=store, created_at=T0)
    Reminder.objects.bulk_create(
        Reminder(ticket=t, offset_minutes=60, fire_at=t.due_at - timedelta(hours=1))
        for t in tickets
    )
    return tickets


def test_two_workers_escalating_at_once_share_the_work_and_never_double_it():
    backlog(120)
    now = T0 + timedelta(days=2)
    results = run_together(
        lambda: sweep_escalations(now=now, batch_size=10),
        lambda: sweep_escalations(now=now, batch_size=10),
    )
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(total for total, _ in results) == 120
    assert Ticket.objects.filter(state="escalated").count() == 120
    assert TicketEvent.objects.filter(action="escalated").count() == 120
    # One digest per store per batch, each batch committed once.
    assert Notification.objects.filter(kind="escalated").count() == sum(b for _, b in results)


def test_two_workers_sending_reminders_at_once_send_each_once():
    tickets = backlog(90)
    now = tickets[0].due_at - timedelta(minutes=30)
    results = run_together(
        lambda: sweep_reminders(now=now, batch_size=7),
        lambda: sweep_reminders(now=now, batch_size=7),
    )
    assert sum(total for total, _ in results) == 90
    assert Reminder.objects.filter(status="sent").count() == 90
    assert TicketEvent.objects.filter(action="reminder_sent").count() == 90
    assert Notification.objects.filter(kind="reminder").count() == 90


def test_overlapping_full_sweeps_give_one_clean_result():
    backlog(60)
    now = T0 + timedelta(days=2)
    results = run_together(
        lambda: sweep_run(now=now, batch_size=8), lambda: sweep_run(now=now, batch_size=8)
    )
    assert sum(r.escalated for r in results) == 60
    assert TicketEvent.objects.filter(action="escalated").count() == 60


@pytest.mark.redis
def test_a_real_celery_worker_runs_the_sweep_task():
    from celery.contrib.testing.worker import start_worker

    from config.celery import app
    from tickets.tasks import sweep_deadlines

    ticket = TicketFactory(store=StoreFactory(), created_at=datetime(2020, 1, 1, tzinfo=UTC))
    app.conf.task_always_eager = False
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        sweep_deadlines.delay()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ticket.refresh_from_db()
            if ticket.state == "escalated":
                break
            time.sleep(0.2)
    assert ticket.state == "escalated"
    assert TicketEvent.objects.filter(ticket=ticket, action="escalated", actor=None).exists()

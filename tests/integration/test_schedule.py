"""Beat dispatches webhooks every 10 s, and the runs go to their own queue, which the
Procfile's worker consumes."""

from pathlib import Path

from django.conf import settings

from config.celery import app

ROOT = Path(__file__).resolve().parents[2]


def test_beat_dispatches_every_ten_seconds_and_drops_a_late_dispatch():
    entry = settings.CELERY_BEAT_SCHEDULE["webhook-dispatch"]
    assert entry["task"] == "integration.tasks.webhook_dispatch"
    assert entry["schedule"] == 10
    assert entry["options"]["expires"] == 10
    app.loader.import_default_modules()  # what a worker or beat does at start: autodiscovery
    assert "integration.tasks.webhook_dispatch" in app.tasks


def test_delivery_runs_go_to_the_webhooks_queue_which_the_worker_consumes():
    route = app.amqp.router.route({}, "integration.tasks.webhook_deliver")
    assert route["queue"].name == "webhooks"
    assert app.amqp.router.route({}, "tickets.tasks.sweep_deadlines")["queue"].name == "celery"
    worker = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("worker:")
    )
    assert "-Q celery,webhooks" in worker


def test_a_run_fits_in_its_lease():
    # A run lasts its time budget plus one POST's timeout at most; the lease must outlast it
    # or a second run would start beside a live one.
    run = settings.WEBHOOK_RUN_MAX_SECONDS + settings.WEBHOOK_TIMEOUT_SECONDS
    assert 2 * run < settings.WEBHOOK_CLAIM_TIMEOUT_SECONDS

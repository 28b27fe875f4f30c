"""PostgreSQL: a transaction left open holds the event feed back (it waits, never skips);
ops hear which one, by pid, in the log every minute and on the subscribers' list."""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import reverse

from integration.feed import feed_blockers
from integration.services import feed_watch

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


class OpenTransaction:
    """Another session that has written (it holds a transaction id) and stays open."""

    def __init__(self):
        self.ready, self.release = threading.Event(), threading.Event()
        self.pid = None
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid(), pg_current_xact_id()")
                self.pid = cursor.fetchone()[0]
                self.ready.set()
                assert self.release.wait(30)
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(30)


def test_an_open_transaction_is_named_in_the_log_and_the_admin(settings, caplog, admin_client):
    settings.FEED_STALL_WARN_SECONDS = 0
    with OpenTransaction() as open_one:
        assert open_one.pid in [b.pid for b in feed_blockers(older_than=timedelta(0))]

        with caplog.at_level(logging.WARNING, logger="integration.services"):
            blockers = feed_watch()
        (mine,) = [b for b in blockers if b.pid == open_one.pid]
        assert mine.state == "idle in transaction"
        assert mine.database == connection.settings_dict["NAME"]
        assert f"waits behind transaction pid {open_one.pid}" in caplog.text

        page = admin_client.get(reverse("admin:integration_subscriber_changelist"))
        assert f"pid {open_one.pid}" in page.content.decode()

    assert open_one.pid not in [b.pid for b in feed_blockers(older_than=timedelta(0))]


def test_a_transaction_younger_than_the_limit_is_not_reported(settings):
    with OpenTransaction() as open_one:
        assert open_one.pid not in [b.pid for b in feed_blockers(older_than=timedelta(hours=1))]
        settings.FEED_STALL_WARN_SECONDS = 3600
        assert open_one.pid not in [b.pid for b in feed_watch()]

"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live_server.

`playwright install` cannot download browsers here, so the system Chromium is launched
instead (`apt-get install -y chromium`; CHROMIUM_PATH overrides its location). Without it
these tests skip, or fail when REQUIRE_SERVICES=1 (see the `browser` marker in
tests/conftest.py).
"""

import os
import threading
import time

import pytest

from tests.conftest import chromium_path

# The sync Playwright API runs an event loop in this thread for the whole session; without
# this the ORM (test set-up code and later tests alike) raises SynchronousOnlyOperation.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def _django_connections(django_db_setup):
    """The test databases' connection objects, taken before Playwright starts."""
    from django.db import connections

    return {alias: connections[alias] for alias in connections}


@pytest.fixture(scope="session")
def playwright(_django_connections, playwright):
    """Playwright, with the ORM kept on the test databases' own connections.

    Between calls, the sync API marks its event loop as running in this thread, and
    asgiref's thread-critical Local behind `django.db.connections` then switches to
    per-context storage: the test code would get fresh connection objects without
    the test database's `_test_serialized_contents`, so `serialized_rollback` would
    silently restore nothing (the seeded policies would be gone after the first
    flush, for these tests and every transactional test after them).
    """
    from django.db import connections

    for alias, connection in _django_connections.items():
        connections[alias] = connection
    return playwright


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": chromium_path(),
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # A merchant's browser in mainland China: Chinese UI, Shanghai clock.
    return {
        **browser_context_args,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "viewport": {"width": 1280, "height": 900},
    }


@pytest.fixture(autouse=True)
def _english_messages():
    # Overrides tests/conftest.py's fixture of the same name: these tests see the
    # dashboard as merchants do, in its default language (zh-hans).
    return None


@pytest.fixture
def _live_server_idle():
    """After the test's browser context has closed, wait for live_server's request threads.

    Chromium's keep-alive connections end when the context closes, and the server's
    request threads finish a few milliseconds later. One still running when the
    session-scoped live_server stops closes the shared in-memory SQLite connection
    after its thread sharing has ended: a DatabaseError in that thread, which
    warnings-as-errors turns into a failed teardown.
    """
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        thread.name.endswith("(process_request_thread)") for thread in threading.enumerate()
    ):
        time.sleep(0.01)


@pytest.fixture
def page(_live_server_idle, page):
    # Fail in seconds, not Playwright's default 30 s, when something never appears.
    page.set_default_timeout(10_000)
    return page


@pytest.fixture(autouse=True)
def _short_live_streams(settings):
    """Pages open a Server-Sent Events stream (tickets/live.py). Keep each stream short
    so live_server's request threads end soon after a test; the browser reconnects
    with Last-Event-ID in between and misses nothing."""
    settings.LIVE_STREAM_SECONDS = 2
    settings.LIVE_POLL_SECONDS = 0.3
    settings.LIVE_RETRY_MS = 200
    settings.LIVE_KEEPALIVE_SECONDS = 1

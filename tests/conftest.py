"""Shared fixtures, and the rule that CI never skips a test that needs a service."""

import os

import pytest
from django.conf import settings as django_settings

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "") in ("1", "true", "yes")


def _postgres_missing() -> str | None:
    engine = django_settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        return "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/xietong"
    return None


def _redis_missing() -> str | None:
    url = os.environ.get("REDIS_URL")
    if not url:
        return "needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"needs Redis at {url}: {exc}"
    return None


def chromium_path() -> str:
    """Debian's Chromium, which the browser tests drive (CHROMIUM_PATH overrides)."""
    return os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"


def _chromium_missing() -> str | None:
    path = chromium_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return (
            f"needs Chromium at {path}: run `apt-get install -y chromium` "
            "(or set CHROMIUM_PATH to a Chromium binary)"
        )
    return None


def pytest_runtest_setup(item):
    checks = {
        "postgres": _postgres_missing,
        "redis": _redis_missing,
        "browser": _chromium_missing,
    }
    for marker, check in checks.items():
        if item.get_closest_marker(marker) is None:
            continue
        reason = check()
        if reason is None:
            continue
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
        pytest.skip(reason)


def pytest_sessionfinish(session, exitstatus):
    # In CI (REQUIRE_SERVICES=1) any skip at all is a failure: a skipped test proves nothing.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if REQUIRE_SERVICES and skipped:
        reporter.write_line(
            f"REQUIRE_SERVICES=1: {len(skipped)} test(s) skipped; failing the run.", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _english_messages(settings):
    # Assertions read service errors in English; zh-hans is covered by its own tests.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is for attackers, not for the test suite.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _celery_eager():
    # Tasks queued in tests run inline; the real-worker test turns this off for itself.
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False

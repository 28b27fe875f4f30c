"""The embedded defaults and the service switches, read in a fresh interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
    "'broker': s.CELERY_BROKER_URL, 'tz': s.TIME_ZONE, 'use_tz': s.USE_TZ, "
    "'lang': s.LANGUAGE_CODE, 'langs': [c for c, _ in s.LANGUAGES]}))"
)


def _settings_with(env: dict[str, str]) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base["DJANGO_SETTINGS_MODULE"] = "config.settings"
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_nothing_configured_means_sqlite_and_a_serverless_broker(tmp_path):
    values = _settings_with({"XIETONG_VAR_DIR": str(tmp_path)})
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["broker"] == "filesystem://"
    assert (values["tz"], values["use_tz"]) == ("Asia/Shanghai", True)
    assert values["lang"] == "zh-hans"
    assert values["langs"] == ["zh-hans", "en"]


def test_services_come_from_the_environment():
    values = _settings_with(
        {
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/xietong",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        }
    )
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["broker"] == "redis://127.0.0.1:6379/0"


def test_production_refuses_to_start_without_a_secret_key():
    base = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, "XIETONG_ENV": "production", "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.redis
def test_celery_reaches_the_configured_redis_broker(settings):
    from config.celery import app

    assert settings.CELERY_BROKER_URL.startswith("redis://")
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        assert connection.connected


@pytest.mark.parametrize(
    ("switches", "options"),
    [
        ({}, "-c jit=off -c max_parallel_workers_per_gather=0"),
        ({"DATABASE_JIT": "1"}, "-c max_parallel_workers_per_gather=0"),
        ({"DATABASE_PARALLEL": "1"}, "-c jit=off"),
        ({"DATABASE_JIT": "1", "DATABASE_PARALLEL": "1"}, None),
    ],
)
def test_postgres_jit_and_parallel_workers_are_off_unless_asked_for(tmp_path, switches, options):
    env = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/xietong", **switches}
    probe = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps(s.DATABASES['default'].get('OPTIONS', {}).get('options')))"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == options

"""Issue 13: login throttling, the intake API's rate limit and token lifetime, and the
production security settings (check --deploy, Content-Security-Policy)."""

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.factories import MembershipFactory, StoreFactory, UserFactory
from tickets.models import ApiToken
from tickets.services.tokens import api_token_create

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-12345-xietong"  # tests.factories.UserFactory
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
LOCKED = "Too many failed logins"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


# --- login throttling (django-axes) --------------------------------------------------------


def _login(client, username, password, *, ip="10.0.0.1", url=None):
    return client.post(
        url or reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
    )


def _fail_five_times(client, username, *, ip="10.0.0.1", url=None):
    for _ in range(5):
        response = _login(client, username, "wrong-password", ip=ip, url=url)
    return response


def test_five_wrong_passwords_lock_out_the_right_one_with_a_message(client, frozen):
    user = UserFactory(username="merchant")

    _fail_five_times(client, "merchant")
    response = _login(client, "merchant", PASSWORD)

    assert response.status_code == 429
    body = response.content.decode()
    assert LOCKED in body
    assert "15 minutes" in body
    assert '<form method="post"' in body  # the login page, not a bare error
    assert "_auth_user_id" not in client.session
    assert user.is_active


def test_four_wrong_passwords_still_let_the_right_one_in(client, frozen):
    UserFactory(username="merchant")
    for _ in range(4):
        _login(client, "merchant", "wrong-password")

    response = _login(client, "merchant", PASSWORD)

    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_a_lockout_leaves_other_users_and_other_addresses_alone(frozen):
    UserFactory(username="merchant")
    UserFactory(username="colleague")
    _fail_five_times(Client(), "merchant", ip="10.0.0.1")

    colleague = _login(Client(), "colleague", PASSWORD, ip="10.0.0.1")
    elsewhere = _login(Client(), "merchant", PASSWORD, ip="10.0.0.2")
    locked = _login(Client(), "merchant", PASSWORD, ip="10.0.0.1")

    assert colleague.status_code == 302
    assert elsewhere.status_code == 302
    assert locked.status_code == 429


def test_the_lock_expires_after_the_cool_off(client, frozen):
    UserFactory(username="merchant")
    _fail_five_times(client, "merchant")

    frozen.shift(timedelta(minutes=14))
    assert _login(client, "merchant", PASSWORD).status_code == 429

    frozen.shift(timedelta(minutes=1, seconds=1))
    response = _login(client, "merchant", PASSWORD)
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_the_admin_login_is_locked_out_too(client, frozen):
    UserFactory(username="staff", is_staff=True)
    admin_login = reverse("admin:login")

    _fail_five_times(client, "staff", url=admin_login)
    response = _login(client, "staff", PASSWORD, url=admin_login)

    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session
    # A lockout at the site's login counts for the admin's, and the other way round.
    assert _login(client, "staff", PASSWORD).status_code == 429


# --- the intake API: rate limit --------------------------------------------------------------


def _service_account(username="cs-bot"):
    user = UserFactory(username=username)
    user.user_permissions.add(Permission.objects.get(codename="use_intake_api"))
    return user


def _api(raw_key):
    return Client(headers={"Authorization": f"Bearer {raw_key}"})


@pytest.fixture
def small_bucket(settings):
    settings.API_RATE_LIMIT = {"rate": 2, "burst": 3}


def _get(client):
    return client.get("/api/v1/tickets/NO-SUCH")


def test_an_exhausted_burst_is_429_with_retry_after(small_bucket, frozen):
    _, key = api_token_create(user=_service_account(), name="cs")
    api = _api(key)

    answers = [_get(api).status_code for _ in range(3)]
    refused = _get(api)

    assert answers == [404, 404, 404]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"  # 0.5 s to the next token, in whole seconds
    assert refused["Content-Type"] == "application/json; charset=utf-8"
    assert "Too many requests" in refused.json()["detail"]


def test_the_bucket_refills_over_time(small_bucket, frozen):
    _, key = api_token_create(user=_service_account(), name="cs")
    api = _api(key)
    for _ in range(3):
        _get(api)
    assert _get(api).status_code == 429

    frozen.shift(timedelta(seconds=0.5))  # one token back at 2 a second
    assert _get(api).status_code == 404
    assert _get(api).status_code == 429

    frozen.shift(timedelta(seconds=10))  # full again, never more than the burst
    assert [_get(api).status_code for _ in range(4)] == [404, 404, 404, 429]


def test_another_token_has_its_own_bucket(small_bucket, frozen):
    user = _service_account()
    _, first = api_token_create(user=user, name="first")
    _, second = api_token_create(user=user, name="second")
    for _ in range(3):
        _get(_api(first))
    assert _get(_api(first)).status_code == 429

    assert _get(_api(second)).status_code == 404


def test_the_default_limit_is_20_a_second_with_a_burst_of_40(settings):
    assert settings.API_RATE_LIMIT == {"rate": 20, "burst": 40}


# --- the intake API: token expiry and revocation ---------------------------------------------


def test_a_revoked_token_is_401_with_a_message(frozen):
    token, key = api_token_create(user=_service_account(), name="cs")
    assert _get(_api(key)).status_code == 404
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=NOW)

    response = _get(_api(key))

    assert response.status_code == 401
    assert response.json() == {"detail": "This API token has been revoked."}
    assert response["WWW-Authenticate"] == "Bearer"


def test_an_expired_token_is_401_with_a_message(frozen):
    _, key = api_token_create(
        user=_service_account(), name="cs", expires_at=NOW + timedelta(hours=1)
    )
    assert _get(_api(key)).status_code == 404

    frozen.shift(timedelta(hours=1))
    response = _get(_api(key))

    assert response.status_code == 401
    assert response.json() == {"detail": "This API token has expired."}


def test_create_api_token_with_days_sets_the_expiry(frozen):
    out = StringIO()
    call_command(
        "create_api_token", "--username", "cs-bot", "--days", "30", stdout=out, stderr=StringIO()
    )

    token = ApiToken.objects.get()
    assert token.expires_at == NOW + timedelta(days=30)
    assert _get(_api(out.getvalue().strip())).status_code == 404


def test_create_api_token_refuses_zero_days():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--days"):
        call_command("create_api_token", "--username", "cs-bot", "--days", "0", stdout=StringIO())
    assert not ApiToken.objects.exists()


def test_revoke_api_token_command_revokes_by_id(frozen):
    user = _service_account()
    token, key = api_token_create(user=user, name="cs")
    other, other_key = api_token_create(user=user, name="spare")

    call_command("revoke_api_token", "--id", str(token.pk), stderr=StringIO())

    token.refresh_from_db()
    other.refresh_from_db()
    assert token.revoked_at == NOW
    assert other.revoked_at is None
    assert _get(_api(key)).status_code == 401
    assert _get(_api(other_key)).status_code == 404


def test_the_admin_revoke_action(admin_client, frozen):
    token, key = api_token_create(user=_service_account(), name="cs")
    changelist = reverse("admin:tickets_apitoken_changelist")

    response = admin_client.post(
        changelist, {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "1 API token revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at == NOW
    assert _get(_api(key)).status_code == 401


# --- production settings ---------------------------------------------------------------------


def test_check_deploy_is_clean_in_production():
    env = {
        k: v
        for k, v in os.environ.items()
        # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; no deployment does.
        if k not in ("DEBUG", "SECURE_SSL_REDIRECT", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update(
        {
            "XIETONG_ENV": "production",
            "SECRET_KEY": "a-production-secret-" + "x" * 50,
            "ALLOWED_HOSTS": "xietong.example.com",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    # Only W021 (HSTS preload) is silenced: not preloading is deliberate (config/settings.py).
    assert re.search(r"System check identified no issues \(\d silenced\)\.", result.stdout)
    assert "WARNINGS" not in result.stderr + result.stdout


def _script_src(header: str) -> str:
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in header.split(";") if part.strip()
    )
    return directives.get("script-src") or directives["default-src"]


@pytest.mark.parametrize("name", ["home", "notifications", "login"])
def test_dashboard_pages_send_a_csp_without_inline_script(client, name):
    membership = MembershipFactory(store=StoreFactory())
    if name != "login":
        client.force_login(membership.user)

    response = client.get(reverse(name))

    assert response.status_code == 200
    header = response["Content-Security-Policy"]
    assert "default-src 'self'" in header
    assert "'unsafe-inline'" not in _script_src(header)
    assert "'unsafe-eval'" not in _script_src(header)
    body = response.content.decode()
    # What that policy would block: inline <script> and on* handler attributes.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body)
    assert not re.search(r"\son[a-z]+\s*=", body)


def test_security_headers_on_a_page(client):
    response = client.get(reverse("login"))

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"

"""`manage.py create_api_token`: a service account and a key shown once."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from tests.factories import StoreFactory, UserFactory
from tickets.models import ApiToken
from tickets.services.tokens import api_token_hash

pytestmark = pytest.mark.django_db


def _create_token(**options) -> str:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", stdout=out, stderr=err, **options)
    return out.getvalue().strip()


def _opens_a_ticket(raw_key: str, number: str = "CS-1") -> bool:
    store = StoreFactory()
    client = Client(headers={"Authorization": f"Bearer {raw_key}"})
    response = client.post(
        "/api/v1/tickets",
        {"number": number, "store_code": store.code, "order_number": "O-1", "summary": "s"},
        content_type="application/json",
    )
    return response.status_code == 201


def test_creates_a_service_account_whose_printed_key_authenticates():
    raw_key = _create_token(username="cs-bot", name="Taobao CS")

    user = get_user_model().objects.get(username="cs-bot")
    assert not user.is_staff and not user.is_superuser
    assert not user.has_usable_password()
    assert user.has_perm("tickets.use_intake_api")
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (user, "Taobao CS")
    # Only the hash is kept; stdout carries the key and nothing else.
    assert token.key_hash != raw_key
    assert token.key_hash == api_token_hash(raw_key)
    assert raw_key and "\n" not in raw_key
    assert _opens_a_ticket(raw_key)


def test_an_existing_user_is_granted_the_permission_and_keeps_its_password():
    user = UserFactory(username="cs-bot")

    raw_key = _create_token(username="cs-bot")

    user.refresh_from_db()
    assert user.has_usable_password()
    assert ApiToken.objects.get().name == "intake API"
    assert _opens_a_ticket(raw_key)


def test_each_run_adds_a_token_and_earlier_ones_keep_working():
    first = _create_token(username="cs-bot")
    second = _create_token(username="cs-bot")

    assert first != second
    assert ApiToken.objects.count() == 2
    assert get_user_model().objects.filter(username="cs-bot").count() == 1
    assert _opens_a_ticket(first, "CS-1")
    assert _opens_a_ticket(second, "CS-2")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({}, "--username", id="no username"),
        pytest.param({"username": "  "}, "--username must not be empty", id="blank username"),
        pytest.param({"username": "cs bot!"}, "Invalid --username", id="bad username"),
        pytest.param({"username": "u" * 151}, "Invalid --username", id="long username"),
        pytest.param({"username": "cs-bot", "name": ""}, "--name must not", id="blank name"),
        pytest.param({"username": "cs-bot", "name": "n" * 101}, "at most 100", id="long name"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(options, message):
    with pytest.raises(CommandError, match=message):
        _create_token(**options)

    assert not get_user_model().objects.exists()
    assert not ApiToken.objects.exists()


def test_an_inactive_user_gets_no_token():
    UserFactory(username="cs-bot", is_active=False)

    with pytest.raises(CommandError, match="inactive"):
        _create_token(username="cs-bot")

    assert not ApiToken.objects.exists()


def test_cs_actions_grants_what_the_actions_ask_and_no_more():
    _create_token(username="cs-bot", cs_actions=True)
    _create_token(username="intake-only")

    users = get_user_model().objects
    cs, intake = users.get(username="cs-bot"), users.get(username="intake-only")
    actions = [
        "tickets.confirm_ticket",
        "tickets.escalate_ticket",
        "tickets.change_ticket",
        "tickets.add_evidence",
    ]
    assert cs.has_perms(["tickets.use_intake_api", *actions])
    assert not any(intake.has_perm(perm) for perm in actions)
    assert not cs.is_staff

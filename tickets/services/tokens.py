"""Bearer tokens of the platform's service accounts (the intake API)."""

import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser

from ..models import ApiToken


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """A new bearer token for a service account; the raw key is shown once, only its hash kept."""
    raw_key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, key_hash=api_token_hash(raw_key))
    return token, raw_key


def api_token_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()

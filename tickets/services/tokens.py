"""Bearer tokens of the platform's service accounts (the intake API)."""

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from ..models import ApiToken


def api_token_create(
    *, user: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new bearer token for a service account; the raw key is shown once, only its hash kept.

    ``expires_at`` None: the token works until revoked.
    """
    raw_key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, key_hash=api_token_hash(raw_key), expires_at=expires_at
    )
    return token, raw_key


def api_tokens_revoke(*, tokens: Iterable[ApiToken], now: datetime | None = None) -> int:
    """Revoke tokens at once (the next request with one gets 401); already revoked ones keep
    their first revocation time. Returns how many were revoked now."""
    now = now or timezone.now()
    with transaction.atomic():
        return ApiToken.objects.filter(
            pk__in=[token.pk for token in tokens], revoked_at__isnull=True
        ).update(revoked_at=now)


def api_token_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()

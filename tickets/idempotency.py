"""Idempotency keys of the CS system's API requests (the ``Idempotency-Key`` header).

The rules, in one place (the API only calls ``idempotent_call``):

- A key is 1–100 visible ASCII characters (``!`` to ``~``, no spaces), chosen by the
  client, and belongs to the token's user: (user, key) is unique (ApiIdempotencyKey).
- The key row is written in the *same transaction* as the action it answers: a crash
  leaves both or neither, never an action without its key or a key without its action.
- The same key with the same request (method, path and body: ``request_fingerprint``)
  gets the stored answer back, status and body, marked replayed; nothing is written.
- The same key with a different request is refused (``IdempotencyKeyReused``, answered
  422 by the API), and nothing is written: a key is never silently re-aimed.
- Only successes (2xx) are stored. A refusal (400, 403, 404, 409) wrote nothing, so
  it leaves the key unused: the client may fix the cause (a permission granted, the
  ticket replied) and retry with the same key; an answer that depends on the moment
  is never replayed as if it were still true.
- Two requests with one key at once: the second's INSERT waits on the first's entry in
  the unique index until the first commits, then fails; the second then replays the
  first's answer (or, if the first rolled back, goes ahead itself). One action, always.
- Keys are kept ``IDEMPOTENCY_KEY_TTL`` (24 h), then purged by
  ``api_idempotency_keys_purge`` (beat, daily). Until it runs an older key still replays.
"""

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import ApiIdempotencyKey

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,100}$"
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class IdempotentAnswer:
    status: int
    body: dict
    replayed: bool = False


class IdempotencyKeyReused(Exception):
    """The key was used before for a different request."""

    def __init__(self, stored: ApiIdempotencyKey):
        super().__init__(
            _(
                "This Idempotency-Key was already used for a different request "
                "(%(method)s %(path)s); use a new key for a new request."
            )
            % {"method": stored.method, "path": stored.path}
        )


class _KeyTaken(Exception):
    """Another request committed this (user, key) first."""


def request_fingerprint(request: HttpRequest) -> str:
    """SHA-256 of the method, the path and the body as the client meant it: a JSON body
    by its parsed content (key order and spacing don't matter), a multipart form by
    its fields and each file's name and bytes (the boundary changes on every retry)."""
    digest = hashlib.sha256()
    digest.update(f"{request.method}\n{request.path}\n".encode())
    if request.content_type == "multipart/form-data":
        fields = sorted((name, request.POST.getlist(name)) for name in request.POST)
        digest.update(json.dumps(fields, ensure_ascii=False).encode())
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                digest.update(f"\nfile {name} {upload.name} {upload.size}\n".encode())
                upload.seek(0)
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
        return digest.hexdigest()
    body = request.body
    with contextlib.suppress(ValueError):  # not JSON: the bytes as sent
        body = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    digest.update(body)
    return digest.hexdigest()


def idempotent_call(
    *,
    user: AbstractBaseUser,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    action: Callable[[], tuple[int, dict]],
    now: datetime | None = None,
) -> IdempotentAnswer:
    """Run ``action`` (which returns the answer's status and JSON body) at most once per
    (user, key), storing its answer with the key in one transaction; replay a stored one.

    A refusal the action raises (ValidationError, PermissionDenied, …) rolls back
    everything, the key row included, and propagates to the caller.
    """
    stored = _stored(user=user, key=key)
    if stored is not None:
        return _replay(stored, fingerprint=fingerprint)
    now = now or timezone.now()
    try:
        with transaction.atomic():
            try:
                # A savepoint of its own: the failed INSERT must not abort the caller's
                # transaction (a test's, or a request's under ATOMIC_REQUESTS).
                with transaction.atomic():
                    record = ApiIdempotencyKey.objects.create(
                        user=user,
                        key=key,
                        method=method,
                        path=path,
                        fingerprint=fingerprint,
                        # Not an answer yet: the row is seen by no one until the commit,
                        # and by then it holds the real one.
                        response_status=0,
                        response_body={},
                        created_at=now,
                    )
            except IntegrityError:
                raise _KeyTaken from None
            status, body = action()
            if not 200 <= status < 300:
                # Not stored (see the module's rules): undo the key row, answer as is.
                transaction.set_rollback(True)
                return IdempotentAnswer(status=status, body=body)
            record.response_status = status
            record.response_body = body
            record.save(update_fields=["response_status", "response_body"])
    except _KeyTaken:
        stored = _stored(user=user, key=key)
        if stored is None:  # pragma: no cover - the winner's row is committed by now
            raise
        return _replay(stored, fingerprint=fingerprint)
    return IdempotentAnswer(status=status, body=body)


def _stored(*, user: AbstractBaseUser, key: str) -> ApiIdempotencyKey | None:
    return ApiIdempotencyKey.objects.filter(user=user, key=key).first()


def _replay(stored: ApiIdempotencyKey, *, fingerprint: str) -> IdempotentAnswer:
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused(stored)
    return IdempotentAnswer(status=stored.response_status, body=stored.response_body, replayed=True)


def api_idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete keys older than IDEMPOTENCY_KEY_TTL; returns how many. One statement."""
    now = now or timezone.now()
    deleted, _by_model = ApiIdempotencyKey.objects.filter(
        created_at__lt=now - IDEMPOTENCY_KEY_TTL
    ).delete()
    return deleted

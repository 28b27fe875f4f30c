"""Webhook signatures: HMAC-SHA256 over "<unix timestamp>.<raw body>" with the
subscriber's secret, sent as ``X-Xietong-Signature: v1=<hex>``.

The timestamp is signed with the body so a captured request cannot be replayed later
than TOLERANCE_SECONDS; "v1=" names the scheme so a second one can be added beside it
(several comma-separated signatures, any one valid) when secrets or algorithms rotate.
Pure functions: the sender, the reference receiver (manage.py webhook_listen) and the
tests share them.
"""

import hashlib
import hmac

SCHEME = "v1"
TOLERANCE_SECONDS = 5 * 60


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """True when ``signature`` (the header's value) signs ``body`` at ``timestamp`` (the
    X-Xietong-Timestamp header, unix seconds) with ``secret``, and ``timestamp`` is within
    ``tolerance`` seconds of ``now`` (unix seconds) either way."""
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, int(timestamp), body)
    return any(
        hmac.compare_digest(expected.encode(), candidate.strip().encode())
        for candidate in signature.split(",")
        if candidate.strip().isascii()
    )

"""Signatures: HMAC-SHA256 over "<timestamp>.<body>", within five minutes."""

from integration.signing import sign, verify_signature

SECRET = "s3cret"
BODY = b'{"id":"evt_1","type":"ticket.opened"}'
T = 1_790_000_000


def test_a_valid_signature_verifies():
    assert verify_signature(SECRET, str(T), BODY, sign(SECRET, T, BODY), now=T + 10)


def test_a_tampered_body_fails():
    signature = sign(SECRET, T, BODY)
    assert not verify_signature(SECRET, str(T), BODY.replace(b"1", b"2"), signature, now=T)


def test_the_wrong_secret_fails():
    assert not verify_signature(SECRET, str(T), BODY, sign("other", T, BODY), now=T)


def test_a_changed_timestamp_fails_even_when_fresh():
    # The timestamp is signed with the body: replaying with a new one does not verify.
    assert not verify_signature(SECRET, str(T + 60), BODY, sign(SECRET, T, BODY), now=T + 60)


def test_a_stale_or_future_timestamp_fails_beyond_five_minutes():
    signature = sign(SECRET, T, BODY)
    assert verify_signature(SECRET, str(T), BODY, signature, now=T + 300)
    assert not verify_signature(SECRET, str(T), BODY, signature, now=T + 301)
    assert not verify_signature(SECRET, str(T), BODY, signature, now=T - 301)


def test_malformed_headers_fail_without_raising():
    signature = sign(SECRET, T, BODY)
    assert not verify_signature(SECRET, "", BODY, signature, now=T)
    assert not verify_signature(SECRET, "12e3", BODY, signature, now=T)
    assert not verify_signature(SECRET, "١٢٣", BODY, signature, now=T)  # non-ASCII digits
    assert not verify_signature(SECRET, str(T), BODY, "", now=T)
    assert not verify_signature(SECRET, str(T), BODY, "v1=é", now=T)


def test_any_one_of_several_signatures_may_match():
    # Rotation: the sender may sign with an old and a new secret at once.
    both = f"{sign('old', T, BODY)}, {sign(SECRET, T, BODY)}"
    assert verify_signature(SECRET, str(T), BODY, both, now=T)
    assert sign(SECRET, T, BODY).startswith("v1=") and len(sign(SECRET, T, BODY)) == 3 + 64

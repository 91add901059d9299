from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from authflow.kit import jwt as jwt_module
from authflow.kit.clock import utc_now
from authflow.kit.jwt import InvalidToken, KeyRing, SigningKey


def ring() -> KeyRing:
    return KeyRing(SigningKey.generate(), issuer="iss", audience="aud")


def test_round_trip_and_verified_cache_still_checks_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = ring()
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    now = utc_now()
    token = keys.issue_access_token(
        subject=user_id, session_id=session_id, now=now, ttl=timedelta(seconds=60)
    )
    assert keys.verify_access_token(token) == (user_id, session_id)
    assert keys.verify_access_token(token) == (user_id, session_id)  # served from the cache

    later = now.timestamp() + 61
    monkeypatch.setattr(jwt_module.time, "time", lambda: later)
    with pytest.raises(InvalidToken):
        keys.verify_access_token(token)
    # Logout may still name the session of an expired token.
    assert keys.verify_access_token(token, verify_exp=False) == (user_id, session_id)


def test_invalid_tokens_are_never_cached() -> None:
    keys = ring()
    token = keys.issue_access_token(
        subject=uuid.uuid4(), session_id=uuid.uuid4(), now=utc_now(), ttl=timedelta(seconds=60)
    )
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(InvalidToken):
            keys.verify_access_token(tampered)


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jwt_module, "VERIFIED_CACHE_SIZE", 3)
    keys = ring()
    for _ in range(5):
        token = keys.issue_access_token(
            subject=uuid.uuid4(), session_id=uuid.uuid4(), now=utc_now(), ttl=timedelta(minutes=1)
        )
        keys.verify_access_token(token)
    assert len(keys._verified) == 3


def test_a_token_from_another_ring_is_refused() -> None:
    token = ring().issue_access_token(
        subject=uuid.uuid4(), session_id=uuid.uuid4(), now=utc_now(), ttl=timedelta(minutes=1)
    )
    with pytest.raises(InvalidToken):
        ring().verify_access_token(token)

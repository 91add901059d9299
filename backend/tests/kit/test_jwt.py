from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from authflow.kit import jwt as jwt_module
from authflow.kit.clock import utc_now
from authflow.kit.jwt import (
    InvalidToken,
    KeyRing,
    KeySet,
    KeysUnavailable,
    SigningKey,
    UnknownSigningKey,
)
from authflow.kit.server_secret import ServerSecret

SECRET = ServerSecret("x" * 32)


def keyset(signing: SigningKey, *also_accepted: SigningKey) -> KeySet:
    return KeySet(signing=signing, verify=tuple(k.verify_key() for k in (signing, *also_accepted)))


class Loader:
    """Stands in for the database: hands out whatever key set it holds, counting calls."""

    def __init__(self, current: KeySet) -> None:
        self.current = current
        self.calls = 0

    async def __call__(self) -> KeySet:
        self.calls += 1
        return self.current


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ring(loader: Loader | None = None, clock: Clock | None = None) -> KeyRing:
    keys = KeyRing(
        issuer="iss",
        audience="aud",
        load=loader or Loader(keyset(SigningKey.generate())),
        secret=SECRET,
        monotonic=clock or Clock(),
    )
    if loader is None:
        keys.install(keyset(SigningKey.generate()))
    return keys


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


def test_nothing_is_signed_before_keys_are_loaded() -> None:
    keys = KeyRing(
        issuer="iss", audience="aud", load=Loader(keyset(SigningKey.generate())), secret=SECRET
    )
    with pytest.raises(KeysUnavailable):
        keys.issue_access_token(
            subject=uuid.uuid4(), session_id=uuid.uuid4(), now=utc_now(), ttl=timedelta(minutes=1)
        )
    assert keys.jwks() == {"keys": []}


async def test_ensure_loaded_loads_once() -> None:
    loader = Loader(keyset(SigningKey.generate()))
    keys = ring(loader)
    await keys.ensure_loaded()
    await keys.ensure_loaded()
    assert loader.calls == 1
    assert keys.signing.kid == loader.current.signing.kid


async def test_a_token_signed_with_a_newer_key_makes_the_ring_reload() -> None:
    """How a process learns of a rotation made by another process or the CLI."""
    old, new = SigningKey.generate(), SigningKey.generate()
    loader, clock = Loader(keyset(old)), Clock()
    keys = ring(loader, clock)
    await keys.reload()
    elsewhere = ring()
    elsewhere.install(keyset(new, old))
    token = elsewhere.issue_access_token(
        subject=uuid.uuid4(), session_id=uuid.uuid4(), now=utc_now(), ttl=timedelta(minutes=1)
    )
    loader.current = keyset(new, old)
    clock.now += 10
    assert (await keys.verify(token))[0] is not None
    assert loader.calls == 2
    assert keys.signing.kid == new.kid
    assert [k["kid"] for k in keys.jwks()["keys"]] == [new.kid, old.kid]


async def test_unknown_kids_reload_at_most_once_per_interval() -> None:
    loader, clock = Loader(keyset(SigningKey.generate())), Clock()
    keys = ring(loader, clock)
    await keys.reload()
    clock.now += 1
    stranger = ring()
    for _ in range(3):
        token = stranger.issue_access_token(
            subject=uuid.uuid4(), session_id=uuid.uuid4(), now=utc_now(), ttl=timedelta(minutes=1)
        )
        with pytest.raises(UnknownSigningKey):
            await keys.verify(token)
    # The start-up load, then one for the first made-up kid; the next within 5 s load nothing.
    assert loader.calls == 2
    clock.now += jwt_module.UNKNOWN_KID_RELOAD_INTERVAL + 0.1
    with pytest.raises(UnknownSigningKey):
        await keys.verify(token)
    assert loader.calls == 3


async def test_a_periodic_reload_just_before_a_rotation_does_not_hide_it() -> None:
    """A process that re-read the keys just before a rotation accepts, at once, a token
    from a process that re-read them just after (tests/test_instances.py)."""
    old, new = SigningKey.generate(), SigningKey.generate()
    loader, clock = Loader(keyset(old)), Clock()
    keys = ring(loader, clock)
    await keys.reload()  # start-up
    clock.now += 30
    await keys.reload()  # periodic, a moment before the rotation
    loader.current = keyset(new, old)
    clock.now += 1
    elsewhere = ring()
    elsewhere.install(keyset(new, old))
    token = elsewhere.issue_access_token(
        subject=uuid.uuid4(), session_id=uuid.uuid4(), now=utc_now(), ttl=timedelta(minutes=1)
    )
    assert (await keys.verify(token))[0] is not None
    assert loader.calls == 3
    assert keys.signing.kid == new.kid


async def test_concurrent_reloads_share_one_load() -> None:
    import asyncio

    loader = Loader(keyset(SigningKey.generate()))
    keys = ring(loader)
    await asyncio.gather(*(keys.reload() for _ in range(10)))
    assert loader.calls == 1


def test_derivation_keys_come_from_the_server_secret_not_the_signing_key() -> None:
    a, b = ring(), ring()
    assert a.signing.kid != b.signing.kid
    assert a.derivation_key("csrf") == b.derivation_key("csrf") == SECRET.derive("csrf")


def test_refused_headers() -> None:
    import jwt

    keys = ring()
    claims = {
        "iss": "iss",
        "aud": "aud",
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "iat": 0,
        "exp": 2**31,
        "jti": "j",
    }
    signing = keys.signing
    for headers in ({"kid": signing.kid, "typ": "JWT"}, {"kid": signing.kid}):
        token = jwt.encode(claims, signing.private_key, algorithm="EdDSA", headers=headers)
        with pytest.raises(InvalidToken):
            keys.verify_access_token(token)
    hs = jwt.encode(
        claims, "s" * 32, algorithm="HS256", headers={"kid": signing.kid, "typ": "at+jwt"}
    )
    with pytest.raises(InvalidToken):
        keys.verify_access_token(hs)

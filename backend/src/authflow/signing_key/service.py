"""Signing keys in PostgreSQL: the first made on first start, more by ``authflow rotate-keys``.

Keeping them in the database (sealed with the server secret) is what lets any number of
API processes sign and verify with the same keys, and a rotation reach all of them
without a redeploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authflow.config import Settings
from authflow.kit.jwt import ALGORITHM, KeySet, SigningKey, VerifyKey
from authflow.kit.server_secret import ServerSecret, UnsealError
from authflow.models import SigningKey as SigningKeyRow

SEAL_PURPOSE = "signing-key"
# Serialises "create the first key" across processes starting at once, and rotations.
ADVISORY_LOCK_ID = 0x61757468_6B657973  # "authkeys"
# Allowance for clocks of verifying services that run a little behind ours.
CLOCK_SKEW = timedelta(minutes=1)

_keys = cast(Table, SigningKeyRow.__table__)


class SigningKeyUnreadable(RuntimeError):
    """A stored key that the configured secret cannot open."""


@dataclass(frozen=True)
class Rotation:
    new_kid: str
    retired_kids: list[str]
    published_until: datetime


def retention(settings: Settings) -> timedelta:
    """How long a retired key stays published and accepted: a process may keep signing
    with it until its next reload, and what it signed then lives one access-token TTL."""
    return (
        timedelta(seconds=settings.key_reload_seconds + settings.access_token_ttl_seconds)
        + CLOCK_SKEW
    )


def _seal(secret: ServerSecret, key: SigningKey) -> bytes:
    return secret.seal(key.private_bytes(), purpose=SEAL_PURPOSE, context=key.kid.encode())


def _unseal(secret: ServerSecret, row: Row[Any]) -> SigningKey:
    try:
        raw = secret.unseal(row.private_key_sealed, purpose=SEAL_PURPOSE, context=row.kid.encode())
    except UnsealError:
        raise SigningKeyUnreadable(
            f"AUTHFLOW_SECRET_KEY cannot open signing key {row.kid}: the secret is not the one "
            "that sealed it. Restore that secret, or run `authflow rotate-keys` with the new "
            "one (tokens signed with the unreadable key stop working)."
        ) from None
    key = SigningKey.from_private_bytes(raw)
    if key.kid != row.kid:
        raise SigningKeyUnreadable(f"signing key {row.kid} does not match its stored kid")
    return key


async def _lock(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})


async def _insert_new_key(conn: AsyncConnection, secret: ServerSecret, now: datetime) -> str:
    key = SigningKey.generate()
    await conn.execute(
        _keys.insert().values(
            kid=key.kid,
            algorithm=ALGORITHM,
            public_key=key.verify_key().public_bytes(),
            private_key_sealed=_seal(secret, key),
            created_at=now,
        )
    )
    return key.kid


async def _published(conn: AsyncConnection, settings: Settings, now: datetime) -> list[Row[Any]]:
    rows = await conn.execute(
        select(_keys)
        .where(
            or_(
                _keys.c.retired_at.is_(None),
                _keys.c.retired_at > now - retention(settings),
            )
        )
        # The signing key first, then the most recently retired.
        .order_by(_keys.c.retired_at.desc().nulls_first(), _keys.c.created_at.desc())
    )
    return list(rows)


def _has_signing_key(rows: list[Row[Any]]) -> bool:
    # _published puts the unretired key first.
    return bool(rows) and rows[0].retired_at is None


async def load_keyset(
    engine: AsyncEngine, *, secret: ServerSecret, settings: Settings, now: datetime
) -> KeySet:
    """The key to sign with and every key still accepted; makes the first key if the
    database has none."""
    async with engine.begin() as conn:
        rows = await _published(conn, settings, now)
        if not _has_signing_key(rows):
            await _lock(conn)
            # Another process may have made it while we waited for the lock.
            rows = await _published(conn, settings, now)
            if not _has_signing_key(rows):
                await _insert_new_key(conn, secret, now)
                rows = await _published(conn, settings, now)
    return KeySet(
        signing=_unseal(secret, rows[0]),
        verify=tuple(VerifyKey.from_public_bytes(r.public_key) for r in rows),
    )


async def rotate(
    engine: AsyncEngine, *, secret: ServerSecret, settings: Settings, now: datetime
) -> Rotation:
    """Make a new signing key and retire the current one (still published until the
    tokens it signed have expired)."""
    async with engine.begin() as conn:
        await _lock(conn)
        # A rotation run with another secret than the API's would store a key no API
        # process can open: prove this secret opens the current key first.
        current = await conn.execute(select(_keys).where(_keys.c.retired_at.is_(None)))
        for row in current:
            _unseal(secret, row)
        retired = await conn.execute(
            update(_keys)
            .where(_keys.c.retired_at.is_(None))
            .values(retired_at=now)
            .returning(_keys.c.kid)
        )
        retired_kids = list(retired.scalars())
        new_kid = await _insert_new_key(conn, secret, now)
    return Rotation(
        new_kid=new_kid, retired_kids=retired_kids, published_until=now + retention(settings)
    )

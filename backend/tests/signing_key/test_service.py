"""Signing keys in PostgreSQL: made once, shared, rotated, retired after their tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.config import Settings
from authflow.db import create_engine
from authflow.kit.clock import utc_now
from authflow.kit.server_secret import ServerSecret, generate_secret
from authflow.signing_key import service

SECRET = ServerSecret(generate_secret())


@pytest.fixture
def key_settings(settings: Settings, scratch_database_url: str) -> Settings:
    return settings.model_copy(update={"database_url": scratch_database_url})


@pytest.fixture
async def keys_engine(key_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(key_settings)
    yield engine
    await engine.dispose()


async def stored(engine: AsyncEngine) -> list[tuple[str, bool]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT kid, retired_at IS NULL FROM signing_keys ORDER BY created_at")
        )
        return [(r[0], r[1]) for r in rows]


async def test_first_load_makes_one_key_and_later_loads_reuse_it(
    keys_engine: AsyncEngine, key_settings: Settings
) -> None:
    first = await service.load_keyset(
        keys_engine, secret=SECRET, settings=key_settings, now=utc_now()
    )
    again = await service.load_keyset(
        keys_engine, secret=SECRET, settings=key_settings, now=utc_now()
    )
    assert first.signing.kid == again.signing.kid
    assert [k.kid for k in again.verify] == [first.signing.kid]
    assert await stored(keys_engine) == [(first.signing.kid, True)]


async def test_processes_starting_at_once_make_exactly_one_key(
    keys_engine: AsyncEngine, key_settings: Settings
) -> None:
    engines = [create_engine(key_settings) for _ in range(8)]
    try:
        sets = await asyncio.gather(
            *(
                service.load_keyset(e, secret=SECRET, settings=key_settings, now=utc_now())
                for e in engines
            )
        )
    finally:
        await asyncio.gather(*(e.dispose() for e in engines))
    assert len({s.signing.kid for s in sets}) == 1
    assert len(await stored(keys_engine)) == 1


async def test_private_key_is_stored_sealed(
    keys_engine: AsyncEngine, key_settings: Settings
) -> None:
    keyset = await service.load_keyset(
        keys_engine, secret=SECRET, settings=key_settings, now=utc_now()
    )
    async with keys_engine.connect() as conn:
        sealed = (
            await conn.execute(text("SELECT private_key_sealed, public_key FROM signing_keys"))
        ).one()
    assert keyset.signing.private_bytes() not in sealed[0]
    assert sealed[1] == keyset.signing.verify_key().public_bytes()


async def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_until_its_tokens_expire(
    keys_engine: AsyncEngine, key_settings: Settings
) -> None:
    now = utc_now()
    before = await service.load_keyset(keys_engine, secret=SECRET, settings=key_settings, now=now)
    rotation = await service.rotate(keys_engine, secret=SECRET, settings=key_settings, now=now)
    assert rotation.retired_kids == [before.signing.kid]
    assert rotation.published_until == now + service.retention(key_settings)

    after = await service.load_keyset(keys_engine, secret=SECRET, settings=key_settings, now=now)
    assert after.signing.kid == rotation.new_kid != before.signing.kid
    assert [k.kid for k in after.verify] == [rotation.new_kid, before.signing.kid]

    # Retention covers a process still signing with the old key until its next reload,
    # plus one access-token lifetime, plus skew.
    window = service.retention(key_settings)
    assert window >= timedelta(
        seconds=key_settings.key_reload_seconds + key_settings.access_token_ttl_seconds
    )
    almost = await service.load_keyset(
        keys_engine, secret=SECRET, settings=key_settings, now=now + window - timedelta(seconds=1)
    )
    assert before.signing.kid in [k.kid for k in almost.verify]
    later = await service.load_keyset(
        keys_engine, secret=SECRET, settings=key_settings, now=now + window + timedelta(seconds=1)
    )
    assert [k.kid for k in later.verify] == [rotation.new_kid]


async def test_rotating_twice_keeps_every_key_whose_tokens_may_live(
    keys_engine: AsyncEngine, key_settings: Settings
) -> None:
    now = utc_now()
    first = await service.load_keyset(keys_engine, secret=SECRET, settings=key_settings, now=now)
    now += timedelta(seconds=1)
    second = await service.rotate(keys_engine, secret=SECRET, settings=key_settings, now=now)
    now += timedelta(seconds=1)
    third = await service.rotate(keys_engine, secret=SECRET, settings=key_settings, now=now)
    assert third.retired_kids == [second.new_kid]
    loaded = await service.load_keyset(keys_engine, secret=SECRET, settings=key_settings, now=now)
    assert [k.kid for k in loaded.verify] == [third.new_kid, second.new_kid, first.signing.kid]
    assert [active for _, active in await stored(keys_engine)] == [False, False, True]


async def test_another_secret_cannot_load_or_rotate(
    keys_engine: AsyncEngine, key_settings: Settings
) -> None:
    await service.load_keyset(keys_engine, secret=SECRET, settings=key_settings, now=utc_now())
    other = ServerSecret(generate_secret())
    with pytest.raises(service.SigningKeyUnreadable, match="AUTHFLOW_SECRET_KEY"):
        await service.load_keyset(keys_engine, secret=other, settings=key_settings, now=utc_now())
    with pytest.raises(service.SigningKeyUnreadable):
        await service.rotate(keys_engine, secret=other, settings=key_settings, now=utc_now())
    # The refused rotation changed nothing.
    assert len(await stored(keys_engine)) == 1


async def test_a_sealed_key_copied_onto_another_row_does_not_open(
    keys_engine: AsyncEngine, key_settings: Settings
) -> None:
    now = utc_now()
    await service.load_keyset(keys_engine, secret=SECRET, settings=key_settings, now=now)
    rotation = await service.rotate(keys_engine, secret=SECRET, settings=key_settings, now=now)
    async with keys_engine.begin() as conn:
        # Someone with write access to the table swaps the sealed private keys.
        await conn.execute(
            text(
                "UPDATE signing_keys SET private_key_sealed = (SELECT private_key_sealed"
                " FROM signing_keys WHERE kid <> :kid) WHERE kid = :kid"
            ),
            {"kid": rotation.new_kid},
        )
    with pytest.raises(service.SigningKeyUnreadable):
        await service.load_keyset(keys_engine, secret=SECRET, settings=key_settings, now=now)

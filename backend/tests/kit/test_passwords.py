from __future__ import annotations

import asyncio

from authflow.kit.passwords import PasswordHasher


async def test_hash_verify_and_dummy() -> None:
    hasher = PasswordHasher(concurrency=2)
    hashed = await hasher.hash("s3cret passphrase")
    assert await hasher.verify_and_update("s3cret passphrase", hashed) == (True, None)
    assert (await hasher.verify_and_update("wrong", hashed))[0] is False
    assert await hasher.verify_and_update("anything", None) == (False, None)


async def test_hashing_does_not_block_the_event_loop() -> None:
    hasher = PasswordHasher(concurrency=1)
    hashed = hasher.hash_sync("x" * 20)
    verifying = asyncio.create_task(hasher.verify_and_update("x" * 20, hashed))
    # Give the task one turn of the loop to start. Were the hash computed on the loop,
    # the task would have run to completion in that turn; in a worker thread it is
    # still in progress when control comes back here.
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not verifying.done()
    assert await verifying == (True, None)


async def test_bcrypt_refusal_of_long_passwords_is_a_plain_no() -> None:
    import bcrypt

    hasher = PasswordHasher(concurrency=1)
    legacy = bcrypt.hashpw(b"short secret", bcrypt.gensalt(rounds=4)).decode()
    assert await hasher.verify_and_update("p" * 73, legacy) == (False, None)

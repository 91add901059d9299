from __future__ import annotations

import asyncio
import time

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
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(hasher.verify_and_update("x" * 20, hashed) for _ in range(4)))
    elapsed = time.perf_counter() - started
    task.cancel()
    # The loop kept running while four verifications happened in a worker thread: it
    # ticked many times, where a blocking hash would have allowed none in between.
    assert ticks > 10, (ticks, elapsed)

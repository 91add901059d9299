from __future__ import annotations

import asyncio

from authflow.kit.passwords import (
    ARGON2_MAX_TIME_COST,
    CALIBRATION_ROUNDS,
    CALIBRATION_TOLERANCE,
    Argon2Parameters,
    Calibration,
    PasswordHasher,
    calibrate,
)


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


async def test_hashes_made_with_other_parameters_are_redone_at_sign_in() -> None:
    baseline = PasswordHasher(concurrency=1)
    stored = baseline.hash_sync("s3cret passphrase")
    assert "$m=19456,t=2,p=1$" in stored

    raised = PasswordHasher(concurrency=1, argon2=Argon2Parameters(memory_kib=20480, time_cost=3))
    ok, upgraded = await raised.verify_and_update("s3cret passphrase", stored)
    assert ok
    assert upgraded is not None
    assert "$m=20480,t=3,p=1$" in upgraded
    # Once redone, it stays.
    assert await raised.verify_and_update("s3cret passphrase", upgraded) == (True, None)
    # A wrong password upgrades nothing.
    assert await raised.verify_and_update("wrong passphrase", stored) == (False, None)


def test_calibration_grows_memory_first_then_time() -> None:
    # A machine where a hash costs 1 ms per MiB and pass: 38 ms for the baseline.
    def measure(p: Argon2Parameters) -> float:
        return p.memory_kib / 1024 * p.time_cost * 1.0

    found = calibrate(100, max_memory_mib=64, measure=measure)
    assert found.parameters == Argon2Parameters(memory_kib=50 * 1024, time_cost=2)
    found = calibrate(400, max_memory_mib=64, measure=measure)
    assert found.parameters == Argon2Parameters(memory_kib=64 * 1024, time_cost=6)
    assert abs(found.milliseconds - 400) <= 400 * CALIBRATION_TOLERANCE
    # Asked for more than the settings allow: the most they allow.
    found = calibrate(10_000, max_memory_mib=19, measure=measure)
    assert found.parameters == Argon2Parameters(time_cost=ARGON2_MAX_TIME_COST)
    # Asked for less than the baseline costs: the baseline, never less.
    found = calibrate(5, max_memory_mib=64, measure=measure)
    assert found.parameters == Argon2Parameters()


def test_calibration_settles_despite_noisy_timings() -> None:
    noise = iter([1.6, 0.5, 1.4, 0.7, 1.3, 0.8, 1.2, 0.9] * 2)
    seen: list[Calibration] = []

    def measure(p: Argon2Parameters) -> float:
        return p.memory_kib / 1024 * p.time_cost * next(noise)

    found = calibrate(300, max_memory_mib=64, measure=measure, report=seen.append)
    assert len(seen) <= CALIBRATION_ROUNDS
    assert found in seen
    assert found.parameters.memory_kib >= Argon2Parameters().memory_kib
    assert found == min(seen, key=lambda c: abs(c.milliseconds - 300))

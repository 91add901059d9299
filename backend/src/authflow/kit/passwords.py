"""Password hashing: Argon2id for new hashes, bcrypt accepted for legacy ones.

Hashing is CPU-bound and takes tens of milliseconds, so it runs in worker threads
(argon2-cffi and bcrypt release the GIL) behind a semaphore sized to the cores: a login
storm then queues for the hasher instead of stalling the event loop for everyone else.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import anyio.to_thread
from argon2.low_level import Type, hash_secret_raw
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

# OWASP's Argon2id baseline: m=19 MiB, t=2, p=1. The defaults, and the least the
# settings (AUTHFLOW_ARGON2_*) accept.
ARGON2_MEMORY_KIB = 19456
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
# The most the settings accept.
ARGON2_MAX_MEMORY_KIB = 4 * 1024 * 1024
ARGON2_MAX_TIME_COST = 100
# What argon2-cffi (and so pwdlib) uses by default; calibration measures the same.
ARGON2_HASH_LENGTH = 32
ARGON2_SALT_LENGTH = 16


@dataclass(frozen=True)
class Argon2Parameters:
    memory_kib: int = ARGON2_MEMORY_KIB
    time_cost: int = ARGON2_TIME_COST
    parallelism: int = ARGON2_PARALLELISM


class PasswordHasher:
    """Hashes with ``argon2`` (default: the OWASP baseline). A stored hash made with other
    parameters, or with bcrypt, verifies and comes back re-hashed from
    ``verify_and_update``, so raising the parameters upgrades each account at its next
    sign-in."""

    def __init__(self, concurrency: int, argon2: Argon2Parameters | None = None) -> None:
        argon2 = argon2 or Argon2Parameters()
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    memory_cost=argon2.memory_kib,
                    time_cost=argon2.time_cost,
                    parallelism=argon2.parallelism,
                    hash_len=ARGON2_HASH_LENGTH,
                    salt_len=ARGON2_SALT_LENGTH,
                ),
                BcryptHasher(),
            )
        )
        self._slots = asyncio.Semaphore(concurrency)
        # Verifying against this costs the same as verifying a real Argon2id hash, so an
        # unknown username takes as long as a wrong password.
        self._dummy_hash = self._hash.hash("authflow-dummy-password-for-timing")

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await anyio.to_thread.run_sync(self._hash.hash, password)

    async def verify_and_update(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """Check ``password``; return (ok, new_hash_if_the_stored_one_is_outdated).

        ``hashed=None`` (no such user) still spends a full verification.
        """
        async with self._slots:
            return await anyio.to_thread.run_sync(self._verify_and_update, password, hashed)

    def _verify_and_update(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        if hashed is not None:
            try:
                return self._hash.verify_and_update(password, hashed)
            except ValueError:
                # bcrypt refuses passwords over 72 bytes instead of answering "no". Treat
                # it as a wrong password, at the price of a real one, so a long password
                # tells nothing about which accounts still hold a legacy hash.
                pass
        self._hash.verify(password, self._dummy_hash)
        return False, None

    def hash_sync(self, password: str) -> str:
        """For the CLI and test fixtures, which run outside the request path."""
        return self._hash.hash(password)


# Calibration (`authflow calibrate-hashing`)


def measure_argon2(parameters: Argon2Parameters, *, samples: int = 3) -> float:
    """Milliseconds one Argon2id hash with ``parameters`` takes here: the fastest of a few
    runs, since other work on the machine only ever adds time."""
    timings = []
    for _ in range(samples):
        secret, salt = os.urandom(16), os.urandom(ARGON2_SALT_LENGTH)
        started = time.perf_counter()
        hash_secret_raw(
            secret,
            salt,
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
            hash_len=ARGON2_HASH_LENGTH,
            type=Type.ID,
        )
        timings.append((time.perf_counter() - started) * 1000)
    return min(timings)


@dataclass(frozen=True)
class Calibration:
    parameters: Argon2Parameters
    milliseconds: float


CALIBRATION_ROUNDS = 8
# Close enough: timings on a busy machine vary more than this anyway.
CALIBRATION_TOLERANCE = 0.1


def _candidate(position: int, max_memory_mib: int) -> Argon2Parameters:
    """The candidates in order of cost: memory up from the baseline's 19 MiB in 1 MiB
    steps at t=2, then, at the memory cap, the time cost up one pass at a time."""
    floor = Argon2Parameters()
    memory_steps = max_memory_mib - floor.memory_kib // 1024
    if position <= memory_steps:
        return replace(floor, memory_kib=floor.memory_kib + position * 1024)
    return replace(
        floor,
        memory_kib=max_memory_mib * 1024,
        time_cost=floor.time_cost + position - memory_steps,
    )


def _position(budget: float, max_memory_mib: int) -> int:
    """Where the candidate costing about ``budget`` (KiB x passes) sits."""
    floor = Argon2Parameters()
    memory_steps = max_memory_mib - floor.memory_kib // 1024
    if budget / floor.time_cost <= max_memory_mib * 1024:
        return max(0, int(budget / floor.time_cost) // 1024 - floor.memory_kib // 1024)
    return memory_steps + max(0, round(budget / (max_memory_mib * 1024)) - floor.time_cost)


def calibrate(
    target_ms: float,
    *,
    max_memory_mib: int,
    measure: Callable[[Argon2Parameters], float] = measure_argon2,
    report: Callable[[Calibration], None] = lambda _: None,
) -> Calibration:
    """Argon2id parameters whose hash takes about ``target_ms`` here, never below the
    OWASP baseline. Memory grows first, up to ``max_memory_mib`` (it is what makes guessing
    on GPUs expensive), then the time cost. Parallelism stays 1: the API already hashes
    one password per core at a time (AUTHFLOW_HASH_CONCURRENCY).

    A bracketing search over the candidates in order of cost (``_candidate``): each round
    predicts the one for the target from the last timing (time grows about with memory x
    passes), kept strictly between the fastest candidate known too slow and the slowest
    known fast enough, so noisy timings cannot make it wander. The closest one measured
    wins.
    """
    if max_memory_mib * 1024 < ARGON2_MEMORY_KIB:
        raise ValueError(f"max_memory_mib must be at least {ARGON2_MEMORY_KIB // 1024}")
    if max_memory_mib * 1024 > ARGON2_MAX_MEMORY_KIB:
        raise ValueError(f"max_memory_mib must be at most {ARGON2_MAX_MEMORY_KIB // 1024}")
    last = _position(ARGON2_MAX_TIME_COST * max_memory_mib * 1024, max_memory_mib)
    tried: dict[int, Calibration] = {}
    low, high = 0, None  # fast enough / too slow
    position = 0
    for _ in range(CALIBRATION_ROUNDS):
        candidate = _candidate(position, max_memory_mib)
        result = Calibration(candidate, measure(candidate))
        report(result)
        tried[position] = result
        if abs(result.milliseconds - target_ms) <= CALIBRATION_TOLERANCE * target_ms:
            break
        if result.milliseconds < target_ms:
            low = position
        else:
            high = position
        if high == 0 or (high is not None and high - low <= 1) or low == last:
            break  # the baseline is already slower, nothing lies between, or the top
        budget = candidate.memory_kib * candidate.time_cost * target_ms / result.milliseconds
        guess = min(max(_position(budget, max_memory_mib), low + 1), last)
        if high is not None:
            guess = min(guess, high - 1)
            if guess in tried:
                guess = (low + high) // 2
        position = guess
    return min(tried.values(), key=lambda t: abs(t.milliseconds - target_ms))

"""Password hashing: Argon2id for new hashes, bcrypt accepted for legacy ones.

Hashing is CPU-bound and takes tens of milliseconds, so it runs in worker threads
(argon2-cffi and bcrypt release the GIL) behind a semaphore sized to the cores: a login
storm then queues for the hasher instead of stalling the event loop for everyone else.
"""

from __future__ import annotations

import asyncio

import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

# OWASP's Argon2id baseline: m=19 MiB, t=2, p=1.
ARGON2_MEMORY_KIB = 19456
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1


class PasswordHasher:
    def __init__(self, concurrency: int) -> None:
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    memory_cost=ARGON2_MEMORY_KIB,
                    time_cost=ARGON2_TIME_COST,
                    parallelism=ARGON2_PARALLELISM,
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

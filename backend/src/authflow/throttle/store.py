"""Where throttling state lives, so that every API process sees the same counts.

Two kinds of state per key: hits in the current fixed window (rate limits), and
consecutive failures with the time of the last one (progressive delay). PostgreSQL is
the default, so several processes share state with no extra service; Redis is used when
``REDIS_URL`` is set. Both answer the same questions the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, cast

from redis.asyncio import Redis
from sqlalchemy import Table, case, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.models import ThrottleCounter


@dataclass(frozen=True, slots=True)
class Failures:
    count: int
    last_at: datetime


@dataclass(frozen=True, slots=True)
class Hits:
    count: int
    window_end: datetime


def window_end(now: datetime, window_seconds: int) -> datetime:
    """End of the fixed window holding ``now``. Windows are aligned to the epoch, so every
    process (and both stores) agree on them without talking to each other."""
    epoch = now.timestamp()
    return datetime.fromtimestamp((math.floor(epoch / window_seconds) + 1) * window_seconds, tz=UTC)


class ThrottleStore(Protocol):
    async def hit(self, key: str, *, window_seconds: int, now: datetime) -> Hits:
        """Count one hit in the window holding ``now``; the count includes it."""
        ...

    async def failures(self, keys: Sequence[str], *, now: datetime) -> dict[str, Failures]:
        """Live failure counts of those keys that have any."""
        ...

    async def add_failure(self, forget_after: Mapping[str, int], *, now: datetime) -> None:
        """One more failure for each key; a key's count starts again from one when its
        last failure is older than its ``forget_after`` seconds."""
        ...

    async def clear(self, keys: Sequence[str]) -> None: ...

    async def purge(self, *, now: datetime) -> int:
        """Drop state that no longer means anything; returns how much."""
        ...

    async def close(self) -> None: ...


_counters = cast(Table, ThrottleCounter.__table__)


class PostgresThrottleStore:
    """One row per key in the UNLOGGED ``throttle_counters`` table, changed by single
    upserts on an autocommit connection: a failed login's count must stand even though
    the request's own transaction rolls back."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def hit(self, key: str, *, window_seconds: int, now: datetime) -> Hits:
        end = window_end(now, window_seconds)
        new = insert(_counters).values(key=key, hits=1, window_end=end, expires_at=end)
        upsert = new.on_conflict_do_update(
            index_elements=[_counters.c.key],
            set_={
                "hits": case(
                    (_counters.c.window_end == new.excluded.window_end, _counters.c.hits + 1),
                    else_=1,
                ),
                "window_end": new.excluded.window_end,
                "expires_at": new.excluded.expires_at,
            },
        ).returning(_counters.c.hits)
        async with self._engine.connect() as conn:
            count = (await conn.execute(upsert)).scalar_one()
        return Hits(count=count, window_end=end)

    async def failures(self, keys: Sequence[str], *, now: datetime) -> dict[str, Failures]:
        query = select(_counters.c.key, _counters.c.failures, _counters.c.last_failure_at).where(
            _counters.c.key.in_(keys),
            _counters.c.expires_at > now,
            _counters.c.failures > 0,
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row.key: Failures(row.failures, row.last_failure_at) for row in rows}

    async def add_failure(self, forget_after: Mapping[str, int], *, now: datetime) -> None:
        # Sorted, so concurrent upserts of overlapping keys lock rows in one order and
        # cannot deadlock.
        values = [
            {
                "key": key,
                "failures": 1,
                "last_failure_at": now,
                "expires_at": now + timedelta(seconds=forget_after[key]),
            }
            for key in sorted(forget_after)
        ]
        statement = insert(_counters).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[_counters.c.key],
            set_={
                "failures": case(
                    (_counters.c.expires_at <= now, 1), else_=_counters.c.failures + 1
                ),
                "last_failure_at": statement.excluded.last_failure_at,
                "expires_at": statement.excluded.expires_at,
            },
        )
        async with self._engine.connect() as conn:
            await conn.execute(statement)

    async def clear(self, keys: Sequence[str]) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(delete(_counters).where(_counters.c.key.in_(keys)))

    async def purge(self, *, now: datetime) -> int:
        async with self._engine.connect() as conn:
            result = await conn.execute(delete(_counters).where(_counters.c.expires_at <= now))
        return result.rowcount

    async def close(self) -> None:
        return None


class RedisThrottleStore:
    """Hits in ``<prefix>hits:<key>:<window end>`` (INCR, expiring with the window);
    failures in a hash ``<prefix>fail:<key>`` {count, last} whose expiry is pushed
    forward by each failure, so a quiet key forgets by itself."""

    def __init__(self, client: Redis, *, prefix: str = "authflow:throttle:") -> None:
        self._redis = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisThrottleStore:
        return cls(Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))

    async def hit(self, key: str, *, window_seconds: int, now: datetime) -> Hits:
        end = window_end(now, window_seconds)
        name = f"{self._prefix}hits:{key}:{int(end.timestamp())}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expireat(name, int(end.timestamp()) + 1)
            count, _ = await pipe.execute()
        return Hits(count=int(count), window_end=end)

    async def failures(self, keys: Sequence[str], *, now: datetime) -> dict[str, Failures]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(f"{self._prefix}fail:{key}", "count", "last")
            answers = await pipe.execute()
        found = {}
        for key, (count, last) in zip(keys, answers, strict=True):
            if count is not None and last is not None and int(count) > 0:
                found[key] = Failures(int(count), datetime.fromtimestamp(float(last), tz=UTC))
        return found

    async def add_failure(self, forget_after: Mapping[str, int], *, now: datetime) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in sorted(forget_after):
                name = f"{self._prefix}fail:{key}"
                pipe.hincrby(name, "count", 1)
                pipe.hset(name, "last", repr(now.timestamp()))
                pipe.expire(name, forget_after[key])
            await pipe.execute()

    async def clear(self, keys: Sequence[str]) -> None:
        if keys:
            await self._redis.delete(*(f"{self._prefix}fail:{key}" for key in keys))

    async def purge(self, *, now: datetime) -> int:
        # Every Redis key carries its own expiry.
        return 0

    async def close(self) -> None:
        await self._redis.aclose()

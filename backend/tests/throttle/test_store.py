"""Both stores, against a real PostgreSQL and a real Redis, answer alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from authflow.kit.clock import utc_now
from authflow.throttle.store import ThrottleStore, window_end


async def test_hits_count_within_a_window_and_restart_in_the_next(store: ThrottleStore) -> None:
    now = utc_now()
    counts = [(await store.hit("k", window_seconds=60, now=now)).count for _ in range(3)]
    assert counts == [1, 2, 3]
    later = now + timedelta(seconds=60)
    fresh = await store.hit("k", window_seconds=60, now=later)
    assert fresh.count == 1
    assert fresh.window_end == window_end(later, 60)
    assert (await store.hit("other", window_seconds=60, now=now)).count == 1


async def test_concurrent_hits_are_all_counted(store: ThrottleStore) -> None:
    now = utc_now()
    results = await asyncio.gather(
        *(store.hit("busy", window_seconds=3600, now=now) for _ in range(50))
    )
    assert sorted(r.count for r in results) == list(range(1, 51))


async def test_failures_add_up_per_key_and_clear(store: ThrottleStore) -> None:
    now = utc_now()
    assert await store.failures(["a", "b"], now=now) == {}
    for _ in range(3):
        await store.add_failure({"a": 3600, "b": 3600}, now=now)
    await store.add_failure({"a": 3600}, now=now)
    state = await store.failures(["a", "b", "c"], now=now)
    assert {key: f.count for key, f in state.items()} == {"a": 4, "b": 3}
    assert abs((state["a"].last_at - now).total_seconds()) < 0.001
    await store.clear(["a"])
    assert list(await store.failures(["a", "b"], now=now)) == ["b"]


async def test_failures_are_forgotten_after_a_quiet_period(store: ThrottleStore) -> None:
    await store.add_failure({"quiet": 1}, now=utc_now())
    await store.add_failure({"quiet": 1}, now=utc_now())
    await asyncio.sleep(1.2)
    now = utc_now()
    assert await store.failures(["quiet"], now=now) == {}
    await store.add_failure({"quiet": 1}, now=now)
    assert (await store.failures(["quiet"], now=now))["quiet"].count == 1
    await asyncio.sleep(1.2)
    await store.purge(now=utc_now())
    assert await store.failures(["quiet"], now=utc_now()) == {}


async def test_concurrent_failures_are_all_counted(store: ThrottleStore) -> None:
    now = utc_now()
    await asyncio.gather(*(store.add_failure({"x": 60, "y": 60}, now=now) for _ in range(30)))
    state = await store.failures(["x", "y"], now=now)
    assert (state["x"].count, state["y"].count) == (30, 30)

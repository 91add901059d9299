from __future__ import annotations

import asyncio
import logging

import pytest

from authflow.kit.deferred import Deferred


async def test_work_runs_after_the_caller_moves_on_and_drain_waits_for_it() -> None:
    deferred = Deferred()
    done: list[str] = []

    async def later(label: str) -> None:
        await asyncio.sleep(0.01)
        done.append(label)
        if label == "first":
            deferred.spawn(later("spawned by first"), name="nested")

    deferred.spawn(later("first"), name="first")
    assert done == []
    await deferred.drain()
    assert done == ["first", "spawned by first"]


async def test_a_failure_is_logged_and_does_not_stop_other_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deferred = Deferred()
    done: list[str] = []

    async def broken() -> None:
        raise RuntimeError("boom")

    async def fine() -> None:
        done.append("fine")

    deferred.spawn(broken(), name="broken-work")
    deferred.spawn(fine(), name="fine-work")
    with caplog.at_level(logging.ERROR):
        await deferred.drain()
    assert done == ["fine"]
    assert "deferred work broken-work failed" in caplog.text

"""The application's start and stop."""

from __future__ import annotations

import asyncio

import pytest

from authflow.main import _stop


async def test_stopping_survives_a_task_that_swallows_its_cancellation() -> None:
    rounds = 0

    async def stubborn() -> None:
        # What a library that loses a cancellation looks like from outside.
        nonlocal rounds
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                rounds += 1
                if rounds == 1:
                    continue
                raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(_stop([task]), timeout=10)
    assert task.cancelled()
    assert rounds == 2


async def test_a_task_that_failed_is_reported() -> None:
    async def broken() -> None:
        raise RuntimeError("background task failed")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="background task failed"):
        await _stop([task])

"""Work that runs after a response has gone out.

Some answers must not depend on what the server then does: forgot-password answers the
same, in the same time, whether or not the address has an account, so the part that
differs runs here, after the handler returns. Unlike Starlette's background tasks these
are not part of the request, so neither the client nor the test transport waits for
them; the lifespan waits for what is left at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class Deferred:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(self._run(work, name), name=name)
        # The loop keeps only weak references to tasks: hold them until they finish.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(work: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await work
        except Exception:
            # Nobody is waiting for the result, so the log is the only place it shows.
            logger.exception("deferred work %s failed", name)

    async def drain(self) -> None:
        """Wait until everything spawned so far (and anything it spawns) has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

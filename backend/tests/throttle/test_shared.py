"""Two API instances with their own pools (and Redis clients) share their counts: failures
against one are refused at the other."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.mark.parametrize("backend", ["postgres", "redis"])
async def test_failures_at_one_instance_count_at_the_other(
    backend: str, make_app: Callable[..., FastAPI], engine: AsyncEngine, redis_url: str
) -> None:
    if backend == "redis":
        wipe = Redis.from_url(redis_url)
        await wipe.flushdb()
        await wipe.aclose()
    overrides = {
        "login_free_failures_per_pair": 3,
        "redis_url": redis_url if backend == "redis" else None,
    }
    async with AsyncExitStack() as stack:
        clients = []
        apps = [make_app(**overrides) for _ in range(2)]
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="https://testserver")
                )
            )
        first, second = clients
        for app in apps:
            assert type(app.state.throttle.store).__name__.lower().startswith(backend)
        for c in (first, second, first):
            r = await c.post("/api/auth/login", json={"login": "target", "password": "guess!!!"})
            assert r.status_code == 401
        for c in (second, first):
            r = await c.post("/api/auth/login", json={"login": "target", "password": "guess!!!"})
            assert (r.status_code, r.json()["code"]) == (429, "TOO_MANY_REQUESTS")

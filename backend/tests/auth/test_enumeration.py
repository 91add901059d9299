"""Nothing a failed or throttled sign-in answers, or how long it takes, tells whether an
account exists, or is disabled."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import client_for

PASSWORD = "correct horse battery staple"
PER_REQUEST = ("date", "x-request-id", "content-length")


def comparable(r: httpx.Response) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    headers = tuple(sorted((k, v) for k, v in r.headers.items() if k not in PER_REQUEST))
    return r.status_code, r.content, headers


async def make_accounts(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    for name in ("known", "off"):
        r = await client.post(
            "/api/auth/signup",
            json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        assert r.status_code == 201
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET is_active = false WHERE username = 'off'"))


async def test_throttled_answers_are_the_same_for_every_kind_of_name(
    make_app: Callable[..., FastAPI], engine: AsyncEngine
) -> None:
    app = make_app(login_free_failures_per_pair=2, throttle_base_delay_seconds=30.0)
    async with app.router.lifespan_context(app), client_for(app) as c:
        await make_accounts(c, engine)
        throttled = []
        for name in ("known", "off", "nobody", "nobody@example.com"):
            for _ in range(2):
                r = await c.post("/api/auth/login", json={"login": name, "password": "wrong!!!"})
                assert r.status_code == 401
            throttled.append(
                await c.post("/api/auth/login", json={"login": name, "password": PASSWORD})
            )
            # The same through the tutorial's route.
            throttled.append(await c.post("/token", data={"username": name, "password": PASSWORD}))
        login_answers = {comparable(r) for r in throttled[0::2]}
        token_answers = {comparable(r) for r in throttled[1::2]}
        assert len(login_answers) == 1 and len(token_answers) == 1
        status, body, _ = login_answers.pop()
        assert status == 429 and b"TOO_MANY_REQUESTS" in body


async def test_failure_timing_does_not_depend_on_the_kind_of_name(
    make_app: Callable[..., FastAPI], engine: AsyncEngine
) -> None:
    # Limits out of the way: this measures the check itself, which hashes once
    # whatever the name.
    app = make_app(login_free_failures_per_account=1000, login_free_failures_per_ip=1000)
    async with app.router.lifespan_context(app), client_for(app) as client:
        await make_accounts(client, engine)
        await _measure(app)


async def _measure(app: FastAPI) -> None:
    kinds: dict[str, dict[str, Any]] = {
        "unknown user": {"login": "nobody", "password": PASSWORD},
        "wrong password": {"login": "known", "password": "wrong password!"},
        "disabled user": {"login": "off", "password": PASSWORD},
    }
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    order = [kind for kind in kinds for _ in range(15)]
    random.Random(7).shuffle(order)
    # Each sample from its own address, so no pair of address and name is delayed.
    for i, kind in enumerate(order):
        transport = httpx.ASGITransport(app=app, client=(f"198.51.{i // 250}.{i % 250}", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            started = time.perf_counter()
            r = await c.post("/api/auth/login", json=kinds[kind])
            timings[kind].append(time.perf_counter() - started)
            assert r.status_code == 401
    medians = {kind: statistics.median(t) for kind, t in timings.items()}
    fastest, slowest = min(medians.values()), max(medians.values())
    # A skipped hash would make one kind several times faster (tens of milliseconds);
    # what remains is scheduling noise.
    assert slowest - fastest < max(0.010, 0.25 * fastest), medians

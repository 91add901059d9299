"""What each route throttles, through the HTTP API of apps with low limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

PASSWORD = "correct horse battery staple"


@pytest.fixture
def low_limits(make_app: Callable[..., FastAPI], engine: AsyncEngine) -> Callable[..., Any]:
    @asynccontextmanager
    async def _running(**overrides: Any) -> AsyncIterator[FastAPI]:
        app = make_app(**overrides)
        async with app.router.lifespan_context(app):
            yield app

    return _running


def client_at(app: FastAPI, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(ip, 5000)), base_url="https://testserver"
    )


async def test_forgot_password_is_limited_per_client_address(low_limits: Any) -> None:
    async with low_limits(forgot_password_per_ip_per_hour=2) as app:
        async with client_at(app, "203.0.113.7") as c:
            for address in ("a@example.com", "b@example.com"):
                r = await c.post("/api/auth/forgot-password", json={"email": address})
                assert r.status_code == 202
            r = await c.post("/api/auth/forgot-password", json={"email": "c@example.com"})
            assert (r.status_code, r.json()["code"]) == (429, "TOO_MANY_REQUESTS")
            assert int(r.headers["Retry-After"]) >= 1
        async with client_at(app, "198.51.100.1") as other:
            r = await other.post("/api/auth/forgot-password", json={"email": "c@example.com"})
            assert r.status_code == 202
        await app.state.deferred.drain()


async def test_dead_links_slow_down_the_address_that_tries_them(low_limits: Any) -> None:
    async with low_limits(token_free_failures_per_ip=3) as app:
        async with client_at(app, "203.0.113.7") as c:
            for path in ("/api/auth/verify-email", "/api/auth/confirm-email-change"):
                r = await c.post(path, json={"token": "guess"})
                assert r.json()["code"] == "EMAIL_TOKEN_INVALID"
            r = await c.post(
                "/api/auth/reset-password", json={"token": "guess", "password": PASSWORD}
            )
            assert r.json()["code"] == "EMAIL_TOKEN_INVALID"
            for path, body in (
                ("/api/auth/verify-email", {"token": "guess"}),
                ("/api/auth/reset-password", {"token": "guess", "password": PASSWORD}),
            ):
                r = await c.post(path, json=body)
                assert (r.status_code, r.json()["code"]) == (429, "TOO_MANY_REQUESTS"), path
        async with client_at(app, "198.51.100.1") as other:
            r = await other.post("/api/auth/verify-email", json={"token": "guess"})
            assert r.json()["code"] == "EMAIL_TOKEN_INVALID"

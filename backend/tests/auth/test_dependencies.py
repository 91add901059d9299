"""Who the caller is: the client address (X-Forwarded-For believed only from a trusted
proxy), and the gate in front of admin routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.auth.dependencies import AdminUser, client_ip
from tests.conftest import client_for

PROXY = ("127.0.0.1", "10.0.0.0/8")
PASSWORD = "correct horse battery staple"


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip("203.0.113.7", ["1.2.3.4"], ()) == "203.0.113.7"


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip("203.0.113.7", ["1.2.3.4"], PROXY) == "203.0.113.7"


def test_through_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() -> None:
    assert client_ip("127.0.0.1", ["198.51.100.9"], PROXY) == "198.51.100.9"
    # The client prepended a lie; the proxy appended what it saw.
    assert client_ip("127.0.0.1", ["1.2.3.4, 198.51.100.9"], PROXY) == "198.51.100.9"
    # Two proxies of ours in a row.
    assert client_ip("127.0.0.1", ["1.2.3.4", "198.51.100.9, 10.1.2.3"], PROXY) == "198.51.100.9"
    assert client_ip("127.0.0.1", ["2001:db8::1"], PROXY) == "2001:db8::1"


def test_garbage_or_no_header_stops_at_the_last_hop_we_trust() -> None:
    assert client_ip("127.0.0.1", [], PROXY) == "127.0.0.1"
    assert client_ip("127.0.0.1", ["<script>, 10.1.2.3"], PROXY) == "10.1.2.3"
    assert client_ip("127.0.0.1", ["x" * 5000], PROXY) == "127.0.0.1"
    assert client_ip("not-an-ip", ["1.2.3.4"], PROXY) is None


async def test_the_session_records_the_address_the_settings_allow(
    make_app: Callable[..., FastAPI], engine: AsyncEngine
) -> None:
    cases = [
        ([], "127.0.0.1", "127.0.0.1"),
        (["127.0.0.1"], "127.0.0.1", "198.51.100.9"),
        (["127.0.0.1"], "203.0.113.7", "203.0.113.7"),
    ]
    for n, (trusted, peer, expected) in enumerate(cases):
        app = make_app(trusted_proxies=trusted)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=(peer, 5000))
            async with httpx.AsyncClient(transport=transport, base_url="https://t") as c:
                account = {"username": f"proxied{n}", "password": PASSWORD}
                assert (await c.post("/users/", json=account)).status_code == 200
                r = await c.post(
                    "/token", data=account, headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.9"}
                )
                assert r.status_code == 200
        async with engine.begin() as conn:
            ip = (await conn.execute(text("SELECT ip FROM user_sessions"))).scalar_one()
            await conn.execute(text("DELETE FROM user_sessions"))
        assert ip == expected


# AdminUser: what every admin route depends on.


def _with_admin_probe(app: FastAPI) -> FastAPI:
    @app.post("/test-admin-probe")
    async def probe(admin: AdminUser) -> dict[str, str]:
        return {"admin": admin.username}

    return app


async def _signed_in_admin(app: FastAPI, engine: AsyncEngine, username: str) -> httpx.AsyncClient:
    async with client_for(app) as first:
        r = await first.post(
            "/api/auth/signup",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "password": "correct horse battery staple",
            },
        )
        assert r.status_code == 201
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET is_superuser = true WHERE username = :u"), {"u": username}
        )
    c = client_for(app)
    c.cookies = first.cookies
    return c


async def test_admin_routes_are_not_found_for_other_users(
    make_app: Callable[..., FastAPI], engine: AsyncEngine
) -> None:
    app = _with_admin_probe(make_app())
    async with app.router.lifespan_context(app), client_for(app) as c:
        r = await c.post(
            "/api/auth/signup",
            json={
                "username": "plainuser",
                "email": "plainuser@example.com",
                "password": "correct horse battery staple",
            },
        )
        assert r.status_code == 201
        r = await c.post("/test-admin-probe")
        assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND")


async def test_admins_need_two_factor_unless_the_deployment_says_otherwise(
    make_app: Callable[..., FastAPI], engine: AsyncEngine
) -> None:
    app = _with_admin_probe(make_app())
    async with (
        app.router.lifespan_context(app),
        await _signed_in_admin(app, engine, "admin_one") as c,
    ):
        r = await c.post("/test-admin-probe")
        assert (r.status_code, r.json()["code"]) == (403, "TWO_FACTOR_ENROLMENT_REQUIRED")
    relaxed = _with_admin_probe(make_app(require_2fa_for_admins=False))
    async with (
        relaxed.router.lifespan_context(relaxed),
        await _signed_in_admin(relaxed, engine, "admin_two") as c,
    ):
        assert (await c.post("/test-admin-probe")).json() == {"admin": "admin_two"}


async def test_admins_with_two_factor_need_a_recent_code(
    make_app: Callable[..., FastAPI], engine: AsyncEngine
) -> None:
    app = _with_admin_probe(make_app())
    async with (
        app.router.lifespan_context(app),
        await _signed_in_admin(app, engine, "admin_three") as c,
    ):
        secret = (await c.post("/api/auth/2fa/enrol")).json()["secret"]
        previous = pyotp.TOTP(secret).at(datetime.now(UTC) - timedelta(seconds=30))
        r = await c.post("/api/auth/2fa/enrol/confirm", json={"code": previous})
        assert r.status_code == 200
        assert (await c.post("/test-admin-probe")).status_code == 200
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE user_sessions SET authenticated_at = now() - interval '11 min'"
                    " WHERE user_id = (SELECT id FROM users WHERE username = 'admin_three')"
                )
            )
        r = await c.post("/test-admin-probe")
        assert (r.status_code, r.json()["code"]) == (403, "STEP_UP_REQUIRED")
        r = await c.post("/api/auth/step-up", json={"code": pyotp.TOTP(secret).now()})
        assert r.status_code == 200
        assert (await c.post("/test-admin-probe")).status_code == 200

"""Refresh tokens: rotation, the grace window, reuse detection, expiry, cookies."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import AccountFactory, client_for

PASSWORD = "correct horse battery staple"


async def password_grant(client: httpx.AsyncClient, accounts: AccountFactory) -> dict[str, Any]:
    account = await accounts.signup()
    r = await client.post("/token", data={"username": account["username"], "password": PASSWORD})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def refresh_grant(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token})


async def me(client: httpx.AsyncClient, access: str) -> int:
    r = await client.get("/users/me/", headers={"Authorization": f"Bearer {access}"})
    return r.status_code


class TestRotation:
    async def test_refresh_rotates_and_old_access_keeps_working_until_expiry(
        self, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine
    ) -> None:
        first = await password_grant(client, accounts)
        r = await refresh_grant(client, first["refresh_token"])
        assert r.status_code == 200, r.text
        second = r.json()
        assert r.headers["cache-control"] == "no-store"
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert len(second["refresh_token"]) >= 43  # 256 bits, base64url
        assert await me(client, second["access_token"]) == 200
        async with engine.connect() as conn:
            stored = (
                (await conn.execute(text("SELECT refresh_token_hash FROM user_sessions")))
                .scalars()
                .all()
            )
        assert second["refresh_token"] not in stored  # only hashes are kept
        third = (await refresh_grant(client, second["refresh_token"])).json()
        assert await me(client, third["access_token"]) == 200

    async def test_identical_retry_within_grace_gets_the_same_successor(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        first = await password_grant(client, accounts)
        a = (await refresh_grant(client, first["refresh_token"])).json()
        b = (await refresh_grant(client, first["refresh_token"])).json()
        assert a["refresh_token"] == b["refresh_token"]
        # ...and that successor still works: no second child was minted.
        assert (await refresh_grant(client, a["refresh_token"])).status_code == 200

    async def test_reuse_after_grace_revokes_the_session(
        self, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine
    ) -> None:
        first = await password_grant(client, accounts)
        second = (await refresh_grant(client, first["refresh_token"])).json()
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE user_sessions SET rotated_at = rotated_at - interval '1 minute'")
            )
        r = await refresh_grant(client, first["refresh_token"])
        assert r.status_code == 401
        assert r.json()["error"] == "invalid_grant"
        assert r.json()["code"] == "INVALID_REFRESH_TOKEN"
        # The whole session is gone: its newest refresh and access tokens too.
        assert (await refresh_grant(client, second["refresh_token"])).status_code == 401
        assert await me(client, second["access_token"]) == 401
        async with engine.connect() as conn:
            reason = (
                await conn.execute(
                    text("SELECT revoked_reason FROM user_sessions WHERE revoked_at IS NOT NULL")
                )
            ).scalar_one()
        assert reason == "refresh_token_reused"

    async def test_reuse_of_an_older_ancestor_also_revokes(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        first = await password_grant(client, accounts)
        second = (await refresh_grant(client, first["refresh_token"])).json()
        third = (await refresh_grant(client, second["refresh_token"])).json()
        assert (await refresh_grant(client, first["refresh_token"])).status_code == 401
        assert (await refresh_grant(client, third["refresh_token"])).status_code == 401

    async def test_concurrent_refreshes_yield_one_successor(
        self, app: FastAPI, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine
    ) -> None:
        first = await password_grant(client, accounts)

        async def one() -> httpx.Response:
            async with client_for(app) as c:
                return await refresh_grant(c, first["refresh_token"])

        responses = await asyncio.gather(*(one() for _ in range(20)))
        assert {r.status_code for r in responses} == {200}
        assert len({r.json()["refresh_token"] for r in responses}) == 1
        async with engine.connect() as conn:
            revoked = (
                await conn.execute(
                    text("SELECT count(*) FROM user_sessions WHERE revoked_at IS NOT NULL")
                )
            ).scalar_one()
            spent = (
                await conn.execute(text("SELECT count(*) FROM spent_refresh_tokens"))
            ).scalar_one()
        assert revoked == 0
        assert spent == 1  # rotated exactly once


class TestExpiry:
    @pytest.mark.parametrize(
        "expire",
        [
            "UPDATE user_sessions SET expires_at = now() - interval '1 second'",
            "UPDATE user_sessions SET last_seen_at = now() - interval '8 days'",
            "UPDATE user_sessions SET revoked_at = now()",
            "UPDATE users SET is_active = false",
        ],
    )
    async def test_refresh_refused(
        self, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine, expire: str
    ) -> None:
        first = await password_grant(client, accounts)
        async with engine.begin() as conn:
            await conn.execute(text(expire))
        r = await refresh_grant(client, first["refresh_token"])
        assert r.status_code == 401
        assert r.json()["code"] == "INVALID_REFRESH_TOKEN"


class TestConfusionAndInput:
    async def test_refresh_token_is_not_a_bearer_token(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        first = await password_grant(client, accounts)
        assert await me(client, first["refresh_token"]) == 401

    async def test_access_token_is_not_a_refresh_token(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        first = await password_grant(client, accounts)
        r = await refresh_grant(client, first["access_token"])
        assert r.status_code in (401, 422)

    @pytest.mark.parametrize(
        "data",
        [
            {"grant_type": "refresh_token"},
            {"grant_type": "refresh_token", "refresh_token": ""},
            {"grant_type": "refresh_token", "refresh_token": "x" * 257},
        ],
    )
    async def test_missing_or_oversized_refresh_token(
        self, client: httpx.AsyncClient, data: dict[str, str]
    ) -> None:
        r = await client.post("/token", data=data)
        assert r.status_code == 422
        assert r.json()["code"] == "VALIDATION_ERROR"

    async def test_unknown_refresh_token(self, client: httpx.AsyncClient) -> None:
        r = await refresh_grant(client, "not-a-token-we-issued")
        assert r.status_code == 401
        assert r.json()["error"] == "invalid_grant"


class TestBrowserRefresh:
    async def test_cookie_refresh_rotates_both_cookies(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        account = await accounts.signup()
        r = await client.post(
            "/api/auth/login",
            json={"login": account["username"], "password": PASSWORD, "remember_me": True},
        )
        cookies = r.headers.get_list("set-cookie")
        assert any("max-age=900" in c.lower() for c in cookies if c.startswith("__Host-"))
        assert any("max-age=2592000" in c.lower() for c in cookies if c.startswith("__Secure-"))
        old_refresh = client.cookies.get("__Secure-authflow_refresh")

        r = await client.post("/api/auth/refresh")
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"expires_in"}  # no token in the body
        assert client.cookies.get("__Secure-authflow_refresh") != old_refresh
        assert (await client.get("/api/users/me")).status_code == 200

    async def test_refresh_without_cookie(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/auth/refresh")
        assert r.status_code == 401
        assert r.json()["code"] == "INVALID_REFRESH_TOKEN"

    async def test_logout_kills_the_refresh_token(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        account = await accounts.signup()
        await client.post(
            "/api/auth/login", json={"login": account["username"], "password": PASSWORD}
        )
        refresh = client.cookies.get("__Secure-authflow_refresh")
        assert refresh
        r = await client.post("/api/auth/logout")
        assert r.status_code == 204
        cleared = r.headers.get_list("set-cookie")
        assert any(c.startswith("__Secure-authflow_refresh=") for c in cleared)
        assert (await refresh_grant(client, refresh)).status_code == 401

    async def test_cross_origin_refresh_is_refused(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        account = await accounts.signup()
        await client.post(
            "/api/auth/login", json={"login": account["username"], "password": PASSWORD}
        )
        r = await client.post("/api/auth/refresh", headers={"Origin": "https://evil.example"})
        assert r.status_code == 403


class TestResume:
    """GET /api/auth/resume: the page-level refresh the web app's proxy redirects to."""

    async def _signed_in(self, client: httpx.AsyncClient, accounts: AccountFactory) -> None:
        account = await accounts.signup()
        r = await client.post(
            "/api/auth/login", json={"login": account["username"], "password": PASSWORD}
        )
        assert r.status_code == 200
        assert client.cookies.get("__Host-authflow_signed_in") == "1"

    async def test_resume_rotates_and_continues(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        await self._signed_in(client, accounts)
        old = client.cookies.get("__Secure-authflow_refresh")
        r = await client.get("/api/auth/resume", params={"next": "/notes?x=1"})
        assert r.status_code == 303
        assert r.headers["location"] == "/notes?x=1"
        assert client.cookies.get("__Secure-authflow_refresh") != old
        assert (await client.get("/api/users/me")).status_code == 200

    @pytest.mark.parametrize(
        "hostile",
        [
            "//evil.example",
            "https://evil.example/",
            "/\\\\evil.example",
            "/.//evil.example",
            "/../x",
            "javascript:alert(1)",
            "/a\tb",
            "",
        ],
    )
    async def test_resume_never_leaves_the_site(
        self, client: httpx.AsyncClient, accounts: AccountFactory, hostile: str
    ) -> None:
        await self._signed_in(client, accounts)
        r = await client.get("/api/auth/resume", params={"next": hostile})
        assert r.headers["location"] == "/account"

    async def test_resume_without_a_session_goes_to_login(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/auth/resume", params={"next": "/notes"})
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Fnotes"
        assert any(
            c.startswith("__Host-authflow_signed_in=") for c in r.headers.get_list("set-cookie")
        )

    async def test_resume_of_a_revoked_session_goes_to_login(
        self, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine
    ) -> None:
        await self._signed_in(client, accounts)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE user_sessions SET revoked_at = now()"))
        r = await client.get("/api/auth/resume", params={"next": "/notes"})
        assert r.headers["location"] == "/login?next=%2Fnotes"

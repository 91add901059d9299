"""Double-submit CSRF token on cookie-authenticated unsafe requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import AccountFactory, client_for

PASSWORD = "correct horse battery staple"


@asynccontextmanager
async def cookie_client(app: FastAPI, accounts: AccountFactory) -> AsyncIterator[httpx.AsyncClient]:
    """Signed in with cookies, but sends no CSRF header by itself (like a forged request)."""
    account = await accounts.signup()
    async with client_for(app, csrf=False) as c:
        r = await c.post(
            "/api/auth/login", json={"login": account["username"], "password": PASSWORD}
        )
        assert r.status_code == 200
        yield c


class TestCsrf:
    @pytest.mark.parametrize("header", [None, "", "wrong", "A" * 43])
    async def test_missing_or_wrong_token_is_refused(
        self, app: FastAPI, accounts: AccountFactory, header: str | None
    ) -> None:
        async with cookie_client(app, accounts) as c:
            headers = {} if header is None else {"X-CSRF-Token": header}
            r = await c.post("/api/notes", json={"text": "forged"}, headers=headers)
            assert r.status_code == 403
            assert r.json()["code"] == "CSRF_TOKEN_INVALID"
            r = await c.post("/api/auth/logout", headers=headers)
            assert r.status_code == 403
            r = await c.post("/api/sessions/revoke-others", headers=headers)
            assert r.status_code == 403
            assert (await c.get("/api/notes")).json() == []  # reads need no token
            assert (await c.get("/api/users/me")).status_code == 200

    async def test_the_sessions_own_token_passes(
        self, app: FastAPI, accounts: AccountFactory
    ) -> None:
        async with cookie_client(app, accounts) as c:
            token = c.cookies.get("__Host-authflow_csrf")
            assert token
            r = await c.post("/api/notes", json={"text": "mine"}, headers={"X-CSRF-Token": token})
            assert r.status_code == 201

    async def test_another_sessions_token_is_refused(
        self, app: FastAPI, accounts: AccountFactory
    ) -> None:
        async with cookie_client(app, accounts) as mine, cookie_client(app, accounts) as theirs:
            other_token = theirs.cookies.get("__Host-authflow_csrf")
            r = await mine.post(
                "/api/notes", json={"text": "x"}, headers={"X-CSRF-Token": other_token or ""}
            )
            assert r.status_code == 403

    async def test_token_survives_refresh(self, app: FastAPI, accounts: AccountFactory) -> None:
        async with cookie_client(app, accounts) as c:
            before = c.cookies.get("__Host-authflow_csrf")
            assert (await c.post("/api/auth/refresh")).status_code == 200
            assert c.cookies.get("__Host-authflow_csrf") == before

    async def test_bearer_requests_need_no_token(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        _, headers = await accounts.bearer()
        assert (
            await client.post("/api/notes", json={"text": "x"}, headers=headers)
        ).status_code == 201
        assert (await client.post("/api/auth/logout", headers=headers)).status_code == 204

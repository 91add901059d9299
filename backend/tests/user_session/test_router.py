"""/api/sessions: where you're signed in, and signing sessions out."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import AccountFactory, client_for

PASSWORD = "correct horse battery staple"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


@asynccontextmanager
async def signed_in(
    app: FastAPI, username: str, user_agent: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own, signed in as ``username``."""
    async with client_for(app) as c:
        r = await c.post(
            "/api/auth/login",
            json={"login": username, "password": PASSWORD},
            headers={"User-Agent": user_agent},
        )
        assert r.status_code == 200
        yield c


class TestSessions:
    async def test_list_marks_this_device_and_parses_agents(
        self, app: FastAPI, accounts: AccountFactory
    ) -> None:
        account = await accounts.signup()
        async with (
            signed_in(app, account["username"], CHROME) as laptop,
            signed_in(app, account["username"], IPHONE),
        ):
            listed = (await laptop.get("/api/sessions")).json()
            # signup's own session + the two sign-ins
            assert len(listed) == 3
            assert listed[0]["current"] is True
            assert (listed[0]["browser"], listed[0]["device"]) == ("Chrome 156", "Linux")
            assert sum(s["current"] for s in listed) == 1
            assert {"Mobile Safari 17"} <= {s["browser"] for s in listed}
            assert all(s["ip"] == "203.0.113.7" for s in listed)
            assert "refresh" not in str(listed).lower()

    async def test_revoke_one_signs_that_device_out(
        self, app: FastAPI, accounts: AccountFactory
    ) -> None:
        account = await accounts.signup()
        async with (
            signed_in(app, account["username"], CHROME) as laptop,
            signed_in(app, account["username"], IPHONE) as phone,
        ):
            listed = (await laptop.get("/api/sessions")).json()
            phone_id = next(s["id"] for s in listed if s["browser"] == "Mobile Safari 17")
            assert (await laptop.delete(f"/api/sessions/{phone_id}")).status_code == 204
            assert (await phone.get("/api/users/me")).status_code == 401
            assert (await phone.post("/api/auth/refresh")).status_code == 401
            assert (await laptop.get("/api/users/me")).status_code == 200
            r = await laptop.delete(f"/api/sessions/{phone_id}")
            assert r.status_code == 404
            assert r.json()["code"] == "SESSION_NOT_FOUND"

    async def test_revoke_others_keeps_this_one(
        self, app: FastAPI, accounts: AccountFactory
    ) -> None:
        account = await accounts.signup()
        async with (
            signed_in(app, account["username"], CHROME) as laptop,
            signed_in(app, account["username"], IPHONE) as phone,
        ):
            r = await laptop.post("/api/sessions/revoke-others")
            assert r.json() == {"revoked": 2}
            assert (await phone.get("/api/users/me")).status_code == 401
            listed = (await laptop.get("/api/sessions")).json()
            assert [s["current"] for s in listed] == [True]

    async def test_another_users_session_is_404(
        self, app: FastAPI, accounts: AccountFactory
    ) -> None:
        alice = await accounts.signup()
        bob = await accounts.signup()
        async with (
            signed_in(app, alice["username"], CHROME) as a,
            signed_in(app, bob["username"], CHROME) as b,
        ):
            bobs = (await b.get("/api/sessions")).json()[0]["id"]
            r = await a.delete(f"/api/sessions/{bobs}")
            assert r.status_code == 404
            assert (await b.get("/api/users/me")).status_code == 200

    @pytest.mark.parametrize("session_id", ["nope", "1", "' OR 1=1 --"])
    async def test_bad_ids(
        self, client: httpx.AsyncClient, accounts: AccountFactory, session_id: str
    ) -> None:
        _, headers = await accounts.bearer()
        assert (
            await client.delete(f"/api/sessions/{session_id}", headers=headers)
        ).status_code == 422
        r = await client.delete(f"/api/sessions/{uuid.uuid4()}", headers=headers)
        assert r.status_code == 404

    async def test_requires_auth(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/api/sessions")).status_code == 401
        assert (await client.post("/api/sessions/revoke-others")).status_code == 401

"""Cookie-authenticated and sign-in requests from another origin are refused."""

from __future__ import annotations

import httpx

from tests.conftest import AccountFactory

PASSWORD = "correct horse battery staple"
WEB = "http://localhost:3000"  # the test settings' web origin


async def _cookie_login(client: httpx.AsyncClient, accounts: AccountFactory) -> None:
    account = await accounts.signup()
    r = await client.post(
        "/api/auth/login",
        json={"login": account["username"], "password": PASSWORD},
        headers={"Origin": WEB, "Sec-Fetch-Site": "same-origin"},
    )
    assert r.status_code == 200


class TestOriginCheck:
    async def test_cross_origin_cookie_write_is_refused_without_effect(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        await _cookie_login(client, accounts)
        for headers in (
            {"Origin": "http://localhost:4000"},
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "same-site"},
            {"Sec-Fetch-Site": "cross-site"},
        ):
            r = await client.post("/api/notes", json={"text": "forged"}, headers=headers)
            assert r.status_code == 403, headers
            assert r.json()["code"] == "CROSS_ORIGIN_REQUEST"
            r = await client.post("/api/auth/logout", headers=headers)
            assert r.status_code == 403
        assert (await client.get("/api/notes")).json() == []
        assert (await client.get("/api/users/me")).status_code == 200

    async def test_same_origin_and_non_browser_clients_pass(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        await _cookie_login(client, accounts)
        ok = {"Origin": WEB, "Sec-Fetch-Site": "same-origin"}
        assert (await client.post("/api/notes", json={"text": "a"}, headers=ok)).status_code == 201
        # No Origin and no Sec-Fetch-Site: not a browser acting on a cookie by itself.
        assert (await client.post("/api/notes", json={"text": "b"})).status_code == 201
        assert (
            await client.get("/api/notes", headers={"Origin": "https://evil.example"})
        ).status_code == 200

    async def test_login_csrf_is_refused(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        account = await accounts.signup()
        r = await client.post(
            "/api/auth/login",
            json={"login": account["username"], "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
        assert r.status_code == 403
        assert "set-cookie" not in r.headers

    async def test_bearer_requests_are_exempt(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        _, headers = await accounts.bearer()
        r = await client.post(
            "/api/notes",
            json={"text": "from a service"},
            headers={**headers, "Origin": "https://other-app.example"},
        )
        assert r.status_code == 201

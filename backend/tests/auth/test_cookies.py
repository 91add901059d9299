"""Every cookie the browser routes set is locked down, and no body carries a token."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.conftest import AccountFactory, client_for

PASSWORD = "correct horse battery staple"


def assert_locked_down(response: httpx.Response) -> None:
    cookies = response.headers.get_list("set-cookie")
    for cookie in cookies:
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"secure", "samesite", "path"} <= attributes, cookie
        assert "domain" not in attributes, cookie
        # Only the CSRF token is readable by the page, by design (double submit).
        if not cookie.startswith("__Host-authflow_csrf="):
            assert "httponly" in attributes, cookie
    for cookie in cookies:
        value = cookie.split(";")[0].split("=", 1)[1]
        if len(value) > 20 and not cookie.startswith("__Host-authflow_csrf="):
            assert value not in response.text  # the token is in the cookie, not the body


class TestCookies:
    async def test_browser_routes(self, client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/api/auth/signup",
            json={"username": "cookie_c", "email": "c@example.com", "password": PASSWORD},
        )
        assert r.status_code == 201
        assert_locked_down(r)
        for call in (
            client.post("/api/auth/login", json={"login": "cookie_c", "password": PASSWORD}),
            client.post(
                "/api/auth/login",
                json={"login": "cookie_c", "password": PASSWORD, "remember_me": True},
            ),
            client.post("/api/auth/refresh"),
            client.get("/api/auth/resume", params={"next": "/notes"}),
            client.post("/api/auth/logout"),
        ):
            r = await call
            assert r.status_code in (200, 204, 303), r.text
            assert r.headers.get_list("set-cookie")
            assert_locked_down(r)

    async def test_session_fixation(self, app: FastAPI, accounts: AccountFactory) -> None:
        """Cookies an attacker planted before the victim signs in are replaced, and the
        attacker's tokens never gain the victim's identity."""
        attacker = await accounts.signup()
        victim = await accounts.signup()
        async with client_for(app) as planted, client_for(app) as browser:
            await planted.post(
                "/api/auth/login", json={"login": attacker["username"], "password": PASSWORD}
            )
            for cookie in planted.cookies.jar:
                browser.cookies.jar.set_cookie(cookie)
            await browser.post(
                "/api/auth/login", json={"login": victim["username"], "password": PASSWORD}
            )
            assert (await browser.get("/api/users/me")).json()["username"] == victim["username"]
            # The attacker's own cookies still name the attacker, not the victim.
            assert (await planted.get("/api/users/me")).json()["username"] == attacker["username"]
            assert browser.cookies.get("__Host-authflow_access") != planted.cookies.get(
                "__Host-authflow_access"
            )
            assert browser.cookies.get("__Secure-authflow_refresh") != planted.cookies.get(
                "__Secure-authflow_refresh"
            )

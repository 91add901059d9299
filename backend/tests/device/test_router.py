"""The "new sign-in" notice: the first login from a browser or client the account has not
seen before sends an email, through the real SMTP server."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import client_for
from tests.email.conftest import SmtpServer, text_of

PASSWORD = "correct horse battery staple"
DEVICE_COOKIE = "__Host-authflow_device"
NOTICE = "New sign-in to your Authflow account"
CHROME_ON_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


async def signup(c: httpx.AsyncClient, username: str, **headers: str) -> None:
    r = await c.post(
        "/api/auth/signup",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        headers=headers,
    )
    assert r.status_code == 201, r.text


async def login(
    c: httpx.AsyncClient, username: str, password: str = PASSWORD, **headers: str | bytes
) -> httpx.Response:
    return await c.post(
        "/api/auth/login", json={"login": username, "password": password}, headers=headers
    )


async def token(
    c: httpx.AsyncClient, username: str, user_agent: str, **form: str
) -> httpx.Response:
    return await c.post(
        "/token",
        data={"username": username, "password": PASSWORD, **form},
        headers={"User-Agent": user_agent},
    )


async def notices(engine: AsyncEngine, address: str | None = None) -> list[dict[str, Any]]:
    """The queued notices (sent or not): written in the login's transaction, so they are
    there as soon as the response is."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT to_address, subject, text_body, html_body FROM email_outbox"
                " WHERE kind = 'new_sign_in' ORDER BY created_at"
            )
        )
        found = [dict(r._mapping) for r in rows]
    return [n for n in found if address is None or n["to_address"] == address]


async def device_count(engine: AsyncEngine, username: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM user_devices d JOIN users u ON u.id = d.user_id"
                        " WHERE u.username = :username"
                    ),
                    {"username": username},
                )
            ).scalar_one()
        )


def device_cookie(r: httpx.Response) -> str | None:
    for header in r.headers.get_list("set-cookie"):
        if header.startswith(f"{DEVICE_COOKIE}="):
            return header
    return None


def device_value(r: httpx.Response) -> str:
    header = device_cookie(r)
    assert header is not None, r.headers
    return header.split(";", 1)[0].split("=", 1)[1]


class TestBrowserSignIn:
    async def test_a_new_browser_gets_one_notice_naming_it_with_a_link_to_the_sessions(
        self, mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
    ) -> None:
        async with (
            mail_app(smtp_server.port) as app,
            client_for(app) as home,
            client_for(app) as away,
        ):
            await signup(home, "nina")
            assert (await login(home, "nina")).status_code == 200
            # The browser that signed up is known: no notice.
            assert await notices(engine) == []

            r = await login(away, "nina", **{"User-Agent": CHROME_ON_LINUX})
            assert r.status_code == 200, r.text
            message = await smtp_server.mailbox.wait_for("nina@example.com", subject=NOTICE)
            assert message["Subject"] == NOTICE
            body = text_of(message)
            assert "Hello nina" in body
            assert "Chrome 131" in body
            assert "Linux" in body
            assert "203.0.113.7" in body
            assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", body), body
            assert "http://localhost:3000/account#sessions" in body
            assert "change your password" in body
            assert "sign out" in body
            html = message.get_body(preferencelist=("html",))
            assert html is not None
            assert 'href="http://localhost:3000/account#sessions"' in str(html.get_content())
            # The raw User-Agent never goes into the mail, only its summary.
            assert CHROME_ON_LINUX not in body
            assert CHROME_ON_LINUX not in str(html.get_content())

            # The same browser again: known now.
            assert (await login(away, "nina", **{"User-Agent": CHROME_ON_LINUX})).status_code == 200
            assert (await login(home, "nina")).status_code == 200
            assert len(await notices(engine)) == 1
            assert await device_count(engine, "nina") == 2
            assert len(smtp_server.mailbox.to("nina@example.com", NOTICE)) == 1

    async def test_the_device_cookie_is_long_lived_host_only_and_outlives_logout(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.post(
            "/api/auth/signup",
            json={"username": "cookie", "email": "cookie@example.com", "password": PASSWORD},
        )
        assert r.status_code == 201
        header = device_cookie(r)
        assert header is not None
        attributes = {part.strip().lower() for part in header.split(";")[1:]}
        assert {"secure", "httponly", "samesite=lax", "path=/", "max-age=34560000"} <= attributes
        assert not any(a.startswith("domain") for a in attributes)
        value = device_value(r)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)

        r = await client.post("/api/auth/logout")
        assert r.status_code == 204
        assert device_cookie(r) is None
        assert client.cookies.get(DEVICE_COOKIE) == value

        # Signing in again presents it and gets the same one back, with a fresh Max-Age.
        r = await login(client, "cookie")
        assert r.status_code == 200
        assert device_value(r) == value

    async def test_a_malformed_device_cookie_is_replaced_and_never_breaks_sign_in(
        self, app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await signup(client, "mallory")
        known = client.cookies.get(DEVICE_COOKIE)
        assert known is not None
        garbage = [
            "",
            "short",
            "a" * 42,
            "a" * 44,
            "a" * 4000,
            "a" * 42 + "!",
            "a" * 42 + "=",
            "ua:" + "a" * 40,
            "%00" * 14 + "a",
            '"' + "a" * 41 + '"',
            "ü" * 43,
        ]
        for value in garbage:
            async with client_for(app) as fresh:
                r = await login(fresh, "mallory", Cookie=f"{DEVICE_COOKIE}={value}".encode())
                assert r.status_code == 200, (value, r.text)
                issued = device_value(r)
                assert issued != value
                assert re.fullmatch(r"[A-Za-z0-9_-]{43}", issued), issued
        # Each was a new browser.
        assert await device_count(engine, "mallory") == 1 + len(garbage)
        assert len(await notices(engine)) == len(garbage)

    async def test_a_wrong_password_records_no_device_and_sends_nothing(
        self, app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await signup(client, "wrong")
        async with client_for(app) as stranger:
            r = await login(stranger, "wrong", "not the password at all")
            assert r.status_code == 401
            assert device_cookie(r) is None
            r = await token(stranger, "wrong", "cli/1.0", password="not the password at all")
            assert r.status_code == 401
        assert await device_count(engine, "wrong") == 1
        assert await notices(engine) == []

    async def test_a_new_browser_signing_in_twice_at_once_sends_one_notice(
        self, app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await signup(client, "twins")
        cookie = f"{DEVICE_COOKIE}=" + "b" * 43
        async with client_for(app) as one, client_for(app) as two:
            answers = await asyncio.gather(
                login(one, "twins", Cookie=cookie), login(two, "twins", Cookie=cookie)
            )
        assert [r.status_code for r in answers] == [200, 200]
        assert await device_count(engine, "twins") == 2
        assert len(await notices(engine)) == 1


class TestTokenEndpoint:
    async def test_oauth2_clients_are_known_by_their_user_agent(
        self, mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
    ) -> None:
        async with mail_app(smtp_server.port) as app, client_for(app) as c:
            await signup(c, "otto")
            r = await token(c, "otto", "otto-cli/1.0")
            assert r.status_code == 200, r.text
            message = await smtp_server.mailbox.wait_for("otto@example.com", subject=NOTICE)
            assert "Unknown browser" in text_of(message)
            assert "203.0.113.7" in text_of(message)

            assert (await token(c, "otto", "otto-cli/1.0")).status_code == 200
            assert len(await notices(engine)) == 1
            assert (await token(c, "otto", "otto-cli/2.0")).status_code == 200
            assert len(await notices(engine)) == 2

            # The refresh grant is not a sign-in: nothing recorded, nothing sent.
            refresh = r.json()["refresh_token"]
            r = await c.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh},
                headers={"User-Agent": "otto-cli/3.0"},
            )
            assert r.status_code == 200, r.text
            assert await device_count(engine, "otto") == 3
            assert len(await notices(engine)) == 2
            await smtp_server.mailbox.wait_for("otto@example.com", 2, subject=NOTICE)

    async def test_a_client_without_a_user_agent_is_one_device_too(
        self, app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await signup(client, "bare")
        for _ in range(2):
            r = await client.post(
                "/token",
                data={"username": "bare", "password": PASSWORD},
                headers={"User-Agent": ""},
            )
            assert r.status_code == 200, r.text
        assert await device_count(engine, "bare") == 2
        assert len(await notices(engine)) == 1


class TestAccountsWithoutHistoryOrAddress:
    async def test_a_tutorial_users_first_sign_in_sends_nothing(
        self, app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        r = await client.post(
            "/users/", json={"username": "tut", "password": PASSWORD, "email": "tut@example.com"}
        )
        assert r.status_code == 200, r.text
        assert await device_count(engine, "tut") == 0
        assert (await token(client, "tut", "tut-cli/1.0")).status_code == 200
        assert await notices(engine) == []
        # From then on the account has a history: another client is new.
        assert (await login(client, "tut")).status_code == 200
        assert len(await notices(engine, "tut@example.com")) == 1

    async def test_an_account_without_an_address_signs_in_from_anywhere_without_error(
        self, app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        r = await client.post("/users/", json={"username": "nomail", "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert (await login(client, "nomail")).status_code == 200
        async with client_for(app) as elsewhere:
            assert (await login(elsewhere, "nomail")).status_code == 200
        assert (await token(client, "nomail", "nomail-cli/1.0")).status_code == 200
        assert await device_count(engine, "nomail") == 3
        assert await notices(engine) == []


async def test_a_hostile_user_agent_is_escaped_and_never_copied_whole(
    mail_app: Any, smtp_server: SmtpServer
) -> None:
    hostile = (
        "Mozilla/5.0 (Linux; Android 10; <img src=x onerror=alert(1)> Build/QP1A) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
    )
    async with (
        mail_app(smtp_server.port) as app,
        client_for(app) as home,
        client_for(app) as away,
    ):
        await signup(home, "hostile")
        assert (await login(away, "hostile", **{"User-Agent": hostile})).status_code == 200
        message = await smtp_server.mailbox.wait_for("hostile@example.com", subject=NOTICE)
        assert message["Subject"] == NOTICE
        html_part = message.get_body(preferencelist=("html",))
        assert html_part is not None
        html = str(html_part.get_content())
        assert "<img" not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html
        assert "Chrome 120" in html
        assert hostile not in html
        assert hostile not in text_of(message)


async def test_an_overlong_device_name_is_shortened(
    app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # ua-parser takes an Android model name of up to ~100 characters as the device.
    model = "M" * 100
    agent = (
        f"Mozilla/5.0 (Linux; Android 10; {model} Build/QP1A) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
    )
    await signup(client, "longname")
    async with client_for(app) as away:
        assert (await login(away, "longname", **{"User-Agent": agent})).status_code == 200
    [notice] = await notices(engine)
    assert model not in notice["text_body"]
    assert "M" * 50 in notice["text_body"]

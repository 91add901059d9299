"""Verification by email, end to end through a real SMTP server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import client_for
from tests.email.conftest import SmtpServer, link_in, text_of

PASSWORD = "correct horse battery staple"


async def signup(c: httpx.AsyncClient, username: str) -> dict[str, Any]:
    r = await c.post(
        "/api/auth/signup",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_signup_sends_a_link_that_verifies_the_address_once(
    mail_app: Any, smtp_server: SmtpServer
) -> None:
    async with mail_app(smtp_server.port) as app, client_for(app) as c:
        user = await signup(c, "vera")
        assert user["is_verified"] is False
        message = await smtp_server.mailbox.wait_for("vera@example.com")
        assert message["Subject"] == "Confirm your email address for Authflow"
        assert message.get_body(preferencelist=("html",)) is not None
        assert "Hello vera" in text_of(message)
        token = link_in(message, "/verify-email")

        r = await c.post("/api/auth/verify-email", json={"token": token})
        assert r.status_code == 200, r.text
        assert r.json() == {"email": "vera@example.com", "is_verified": True}
        assert (await c.get("/api/users/me")).json()["is_verified"] is True

        again = await c.post("/api/auth/verify-email", json={"token": token})
        assert again.status_code == 400
        assert again.json()["code"] == "EMAIL_TOKEN_USED"


async def test_tutorial_signup_with_an_email_gets_a_link_too(
    mail_app: Any, smtp_server: SmtpServer
) -> None:
    async with mail_app(smtp_server.port) as app, client_for(app) as c:
        r = await c.post(
            "/users/", json={"username": "tut", "password": PASSWORD, "email": "tut@example.com"}
        )
        assert r.status_code == 200, r.text
        await smtp_server.mailbox.wait_for("tut@example.com")
        r = await c.post("/users/", json={"username": "noemail", "password": PASSWORD})
        assert r.status_code == 200, r.text


async def test_bad_tokens_are_refused_with_clear_codes(
    mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
) -> None:
    async with mail_app(smtp_server.port) as app, client_for(app) as c:
        await signup(c, "tok")
        token = link_in(await smtp_server.mailbox.wait_for("tok@example.com"), "/verify-email")

        cases = {
            "EMAIL_TOKEN_INVALID": [token[:-1] + ("A" if token[-1] != "A" else "B"), "x"],
        }
        for code, tokens in cases.items():
            for bad in tokens:
                r = await c.post("/api/auth/verify-email", json={"token": bad})
                assert r.status_code == 400, bad
                assert r.json()["code"] == code
        for body in ({}, {"token": ""}, {"token": "a" * 10_000}, {"token": 5}, {"token": "a\nb"}):
            r = await c.post("/api/auth/verify-email", json=body)
            assert r.status_code == 422, body
            assert r.json()["code"] == "VALIDATION_ERROR"

        # Expired.
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE email_tokens SET expires_at = now() - interval '1 second'")
            )
        r = await c.post("/api/auth/verify-email", json={"token": token})
        assert r.json()["code"] == "EMAIL_TOKEN_EXPIRED"

        # Another purpose.
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE email_tokens SET expires_at = now() + interval '1 hour',"
                    " purpose = 'reset_password'"
                )
            )
        r = await c.post("/api/auth/verify-email", json={"token": token})
        assert r.json()["code"] == "EMAIL_TOKEN_INVALID"

        # Issued before the password last changed.
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE email_tokens SET purpose = 'verify_email'"))
            await conn.execute(
                text("UPDATE users SET password_changed_at = now() + interval '1 second'")
            )
        r = await c.post("/api/auth/verify-email", json={"token": token})
        assert r.json()["code"] == "EMAIL_TOKEN_INVALID"
        assert (await c.get("/api/users/me")).json()["is_verified"] is False


async def test_a_link_for_an_old_address_does_not_verify_the_new_one(
    mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
) -> None:
    async with mail_app(smtp_server.port) as app, client_for(app) as c:
        await signup(c, "mover")
        token = link_in(await smtp_server.mailbox.wait_for("mover@example.com"), "/verify-email")
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE users SET email = 'new@example.com'"))
        r = await c.post("/api/auth/verify-email", json={"token": token})
        assert r.json()["code"] == "EMAIL_TOKEN_INVALID"


async def test_twenty_concurrent_uses_of_one_link_verify_once(
    mail_app: Any, smtp_server: SmtpServer
) -> None:
    async with mail_app(smtp_server.port) as app, client_for(app) as c:
        await signup(c, "race")
        token = link_in(await smtp_server.mailbox.wait_for("race@example.com"), "/verify-email")
        results = await asyncio.gather(
            *(c.post("/api/auth/verify-email", json={"token": token}) for _ in range(20))
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200] + [400] * 19
        assert {r.json()["code"] for r in results if r.status_code == 400} == {"EMAIL_TOKEN_USED"}


async def test_resend_is_throttled_and_refused_once_verified(
    mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
) -> None:
    async with mail_app(smtp_server.port) as app, client_for(app) as c:
        await signup(c, "again")
        await smtp_server.mailbox.wait_for("again@example.com")
        r = await c.post("/api/auth/resend-verification")
        assert r.status_code == 429
        assert r.json()["code"] == "TOO_MANY_REQUESTS"
        assert 1 <= int(r.headers["Retry-After"]) <= 61

        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE email_tokens SET created_at = created_at - interval '2 minutes'")
            )
        r = await c.post("/api/auth/resend-verification")
        assert r.status_code == 202, r.text
        second = await smtp_server.mailbox.wait_for("again@example.com", count=2)
        # Either link works; the newest one here.
        r = await c.post("/api/auth/verify-email", json={"token": link_in(second, "/verify-email")})
        assert r.status_code == 200
        r = await c.post("/api/auth/resend-verification")
        assert r.status_code == 409
        assert r.json()["code"] == "EMAIL_ALREADY_VERIFIED"


async def test_resend_needs_sign_in_and_csrf(mail_app: Any, smtp_server: SmtpServer) -> None:
    async with mail_app(smtp_server.port) as app:
        async with client_for(app) as anonymous:
            r = await anonymous.post("/api/auth/resend-verification")
            assert r.status_code == 401
        async with client_for(app, csrf=False) as c:
            await signup(c, "nocsrf")
            r = await c.post("/api/auth/resend-verification")
            assert r.status_code == 403
            assert r.json()["code"] == "CSRF_TOKEN_INVALID"

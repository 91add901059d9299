"""Forgot/reset password, change password and change email, end to end through a real
SMTP server: links are read out of the delivered messages."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import client_for
from tests.email.conftest import SmtpServer, link_in, text_of

PASSWORD = "correct horse battery staple"
# Headers that differ between any two responses.
PER_REQUEST = ("date", "x-request-id")
NEW_PASSWORD = "purple elephant skates daily"
RESET = "Reset your Authflow password"
CHANGED = "Your Authflow password was changed"
CONFIRM_NEW = "Confirm your new email address"
CHANGE_NOTICE = "A change of email address was requested"


async def signup(c: httpx.AsyncClient, username: str, email: str | None = None) -> None:
    r = await c.post(
        "/api/auth/signup",
        json={
            "username": username,
            "email": email or f"{username}@example.com",
            "password": PASSWORD,
        },
    )
    assert r.status_code == 201, r.text


async def login(c: httpx.AsyncClient, login: str, password: str = PASSWORD) -> httpx.Response:
    return await c.post("/api/auth/login", json={"login": login, "password": password})


async def forgot(c: httpx.AsyncClient, app: FastAPI, email: str) -> httpx.Response:
    r = await c.post("/api/auth/forgot-password", json={"email": email})
    await app.state.deferred.drain()
    return r


async def outbox_kinds(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT kind FROM email_outbox ORDER BY created_at"))
        return list(rows.scalars())


async def reset_token(smtp: SmtpServer, address: str, count: int = 1) -> str:
    return link_in(await smtp.mailbox.wait_for(address, count, subject=RESET), "/reset-password")


class TestForgotAndReset:
    async def test_a_reset_sets_the_password_ends_every_session_and_sends_a_notice(
        self, mail_app: Any, smtp_server: SmtpServer
    ) -> None:
        async with (
            mail_app(smtp_server.port) as app,
            client_for(app) as first,
            client_for(app) as second,
            client_for(app) as anonymous,
        ):
            await signup(first, "rita")
            assert (await login(second, "rita")).status_code == 200
            verify_token = link_in(
                await smtp_server.mailbox.wait_for("rita@example.com"), "/verify-email"
            )

            r = await forgot(anonymous, app, "RITA@example.com")
            assert r.status_code == 202
            message = await smtp_server.mailbox.wait_for("rita@example.com", subject=RESET)
            assert "30 minutes" in text_of(message)
            token = link_in(message, "/reset-password")

            r = await anonymous.post(
                "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
            )
            assert r.status_code == 204, r.text
            for signed_in in (first, second):
                assert (await signed_in.get("/api/users/me")).status_code == 401
            assert (await login(anonymous, "rita")).status_code == 401
            r = await login(anonymous, "rita", NEW_PASSWORD)
            assert r.status_code == 200
            # Opening the link proved the address.
            assert r.json()["is_verified"] is True

            notice = await smtp_server.mailbox.wait_for("rita@example.com", subject=CHANGED)
            assert "/forgot-password" in text_of(notice)

            again = await anonymous.post(
                "/api/auth/reset-password", json={"token": token, "password": "another pass 123"}
            )
            assert again.json()["code"] == "EMAIL_TOKEN_USED"
            # Links issued before the change are void.
            r = await anonymous.post("/api/auth/verify-email", json={"token": verify_token})
            assert r.json()["code"] == "EMAIL_TOKEN_INVALID"

    async def test_unknown_disabled_and_address_less_accounts_get_the_same_answer_and_no_mail(
        self, app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await signup(client, "known")
        await signup(client, "off")
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE users SET is_active = false WHERE username = 'off'"))
            await conn.execute(text("DELETE FROM email_outbox"))
        answers = [
            await forgot(client, app, address)
            for address in ("known@example.com", "nobody@example.com", "off@example.com")
        ]
        first = answers[0]
        for r in answers:
            assert r.status_code == 202
            assert r.content == first.content
            assert {k: v for k, v in r.headers.items() if k not in PER_REQUEST} == {
                k: v for k, v in first.headers.items() if k not in PER_REQUEST
            }
        assert await outbox_kinds(engine) == ["reset_password"]

    async def test_a_second_request_within_the_interval_sends_nothing_more(
        self, app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await signup(client, "twice")
        for _ in range(3):
            assert (await forgot(client, app, "twice@example.com")).status_code == 202
        assert (await outbox_kinds(engine)).count("reset_password") == 1

    async def test_answer_time_does_not_depend_on_whether_the_account_exists(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        await signup(client, "timed")
        timings: dict[str, list[float]] = {"timed@example.com": [], "ghost@example.com": []}
        order = [address for address in timings for _ in range(60)]
        random.Random(4).shuffle(order)
        for address in order:
            started = time.perf_counter()
            r = await client.post("/api/auth/forgot-password", json={"email": address})
            timings[address].append(time.perf_counter() - started)
            assert r.status_code == 202
            # The deferred work must not land in the next sample's window.
            await app.state.deferred.drain()
        known, unknown = (statistics.median(t) for t in timings.values())
        # Doing the token and outbox writes inline adds several milliseconds to a known
        # address; what remains is one identical query either way.
        assert abs(known - unknown) < max(0.0015, 0.3 * min(known, unknown)), (known, unknown)

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"email": ""},
            {"email": "not-an-address"},
            {"email": "a@b.c\r\nBcc: x@evil.example"},
            {"email": "x" * 400 + "@example.com"},
            {"email": ["a@example.com"]},
        ],
    )
    async def test_bad_forgot_bodies_are_422(
        self, client: httpx.AsyncClient, body: dict[str, Any]
    ) -> None:
        r = await client.post("/api/auth/forgot-password", json=body)
        assert r.status_code == 422
        assert r.json()["code"] == "VALIDATION_ERROR"

    async def test_bad_reset_links_and_passwords_are_refused_with_clear_codes(
        self, mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
    ) -> None:
        async with mail_app(smtp_server.port) as app, client_for(app) as c:
            await signup(c, "carla")
            verify_token = link_in(
                await smtp_server.mailbox.wait_for("carla@example.com"), "/verify-email"
            )
            await forgot(c, app, "carla@example.com")
            token = await reset_token(smtp_server, "carla@example.com")

            async def reset(token: str, password: str = NEW_PASSWORD) -> httpx.Response:
                return await c.post(
                    "/api/auth/reset-password", json={"token": token, "password": password}
                )

            tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
            for bad in (tampered, "x", verify_token):
                r = await reset(bad)
                assert (r.status_code, r.json()["code"]) == (400, "EMAIL_TOKEN_INVALID"), bad
            # A reset link is no verification link either.
            r = await c.post("/api/auth/verify-email", json={"token": token})
            assert r.json()["code"] == "EMAIL_TOKEN_INVALID"

            for weak, code in (
                ("password", "PASSWORD_TOO_COMMON"),
                ("short", "PASSWORD_TOO_SHORT"),
                ("my name is carla!", "PASSWORD_CONTAINS_USER_INFO"),
            ):
                r = await reset(token, weak)
                assert r.status_code == 422
                assert r.json()["code"] == code
                assert r.json()["errors"][0]["field"] == "password"
            for body in (
                {"token": token},
                {"password": NEW_PASSWORD},
                {"token": token, "password": "p" * 4097},
                {"token": token, "password": "a\u0000bcdefghijkl"},
                {"token": "t" * 300, "password": NEW_PASSWORD},
                {"token": token, "password": 12345678901},
            ):
                r = await c.post("/api/auth/reset-password", json=body)
                assert r.status_code == 422, body

            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "UPDATE email_tokens SET expires_at = now() - interval '1 second'"
                        " WHERE purpose = 'reset_password'"
                    )
                )
            assert (await reset(token)).json()["code"] == "EMAIL_TOKEN_EXPIRED"
            # Refused attempts left the password alone.
            assert (await login(c, "carla")).status_code == 200

    async def test_a_link_for_another_address_or_a_disabled_account_resets_nothing(
        self, mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
    ) -> None:
        async with mail_app(smtp_server.port) as app, client_for(app) as c:
            await signup(c, "dora")
            await forgot(c, app, "dora@example.com")
            token = await reset_token(smtp_server, "dora@example.com")
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE users SET email = 'dora2@example.com'"))
            r = await c.post(
                "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
            )
            assert r.json()["code"] == "EMAIL_TOKEN_INVALID"
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE users SET email = 'dora@example.com', is_active = false")
                )
            r = await c.post(
                "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
            )
            assert r.json()["code"] == "EMAIL_TOKEN_INVALID"

    async def test_twenty_concurrent_uses_of_one_link_change_the_password_once(
        self, mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
    ) -> None:
        async with mail_app(smtp_server.port) as app, client_for(app) as c:
            await signup(c, "race")
            await forgot(c, app, "race@example.com")
            token = await reset_token(smtp_server, "race@example.com")
            answers = await asyncio.gather(
                *(
                    c.post(
                        "/api/auth/reset-password",
                        json={"token": token, "password": f"{NEW_PASSWORD} {i}"},
                    )
                    for i in range(20)
                )
            )
            statuses = sorted(r.status_code for r in answers)
            assert statuses == [204] + [400] * 19
            assert {r.json()["code"] for r in answers if r.status_code == 400} == {
                "EMAIL_TOKEN_USED"
            }
            winner = next(i for i, r in enumerate(answers) if r.status_code == 204)
            assert (await login(c, "race", f"{NEW_PASSWORD} {winner}")).status_code == 200
            async with engine.connect() as conn:
                notices = await conn.execute(
                    text("SELECT count(*) FROM email_outbox WHERE kind = 'password_changed'")
                )
                assert notices.scalar_one() == 1


class TestChangePassword:
    async def test_change_keeps_this_session_ends_the_others_and_sends_a_notice(
        self, mail_app: Any, smtp_server: SmtpServer
    ) -> None:
        async with (
            mail_app(smtp_server.port) as app,
            client_for(app) as here,
            client_for(app) as elsewhere,
            client_for(app) as c,
        ):
            await signup(here, "paul")
            assert (await login(elsewhere, "paul")).status_code == 200
            await forgot(c, app, "paul@example.com")
            pending_reset = await reset_token(smtp_server, "paul@example.com")

            r = await here.post(
                "/api/auth/change-password",
                json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            )
            assert r.status_code == 204, r.text
            assert (await here.get("/api/users/me")).status_code == 200
            assert (await elsewhere.get("/api/users/me")).status_code == 401
            assert (await login(c, "paul")).status_code == 401
            assert (await login(c, "paul", NEW_PASSWORD)).status_code == 200
            await smtp_server.mailbox.wait_for("paul@example.com", subject=CHANGED)
            # A reset link from before the change no longer works.
            r = await c.post(
                "/api/auth/reset-password", json={"token": pending_reset, "password": PASSWORD}
            )
            assert r.json()["code"] == "EMAIL_TOKEN_INVALID"

    async def test_bearer_clients_can_change_their_password(
        self, client: httpx.AsyncClient, accounts: Any
    ) -> None:
        _, headers = await accounts.bearer()
        r = await client.post(
            "/api/auth/change-password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=headers,
        )
        assert r.status_code == 204
        assert (await client.get("/users/me/", headers=headers)).status_code == 200

    async def test_refusals(
        self, app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await signup(client, "nina")

        async def change(body: dict[str, Any], c: httpx.AsyncClient = client) -> httpx.Response:
            return await c.post("/api/auth/change-password", json=body)

        r = await change({"current_password": "wrong password!", "new_password": NEW_PASSWORD})
        assert (r.status_code, r.json()["code"]) == (400, "CURRENT_PASSWORD_INCORRECT")
        assert r.json()["errors"][0]["field"] == "current_password"
        r = await change({"current_password": PASSWORD, "new_password": PASSWORD})
        assert (r.status_code, r.json()["code"]) == (422, "PASSWORD_UNCHANGED")
        r = await change({"current_password": PASSWORD, "new_password": "password1"})
        assert (r.status_code, r.json()["code"]) == (422, "PASSWORD_TOO_COMMON")
        assert r.json()["errors"][0]["field"] == "new_password"
        for body in (
            {},
            {"current_password": PASSWORD},
            {"current_password": PASSWORD, "new_password": "p" * 4097},
            {"current_password": PASSWORD, "new_password": "abc\u0000defghijkl"},
            {"current_password": None, "new_password": NEW_PASSWORD},
        ):
            r = await change(body)
            assert r.status_code == 422, body

        async with client_for(app) as anonymous:
            r = await change(
                {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, anonymous
            )
            assert r.status_code == 401
        async with client_for(app, csrf=False) as forged:
            forged.cookies = client.cookies
            r = await change({"current_password": PASSWORD, "new_password": NEW_PASSWORD}, forged)
            assert (r.status_code, r.json()["code"]) == (403, "CSRF_TOKEN_INVALID")
        # Nothing above changed it.
        assert (await login(client, "nina")).status_code == 200
        assert "password_changed" not in await outbox_kinds(engine)


class TestChangeEmail:
    async def test_the_address_changes_only_when_the_new_one_confirms(
        self, mail_app: Any, smtp_server: SmtpServer
    ) -> None:
        async with mail_app(smtp_server.port) as app, client_for(app) as c:
            await signup(c, "eve")
            r = await c.post(
                "/api/auth/change-email",
                json={"current_password": PASSWORD, "new_email": "eve.new@example.com"},
            )
            assert r.status_code == 202, r.text
            assert r.json() == {"pending_email": "eve.new@example.com", "expires_in_minutes": 60}
            notice = await smtp_server.mailbox.wait_for("eve@example.com", subject=CHANGE_NOTICE)
            assert "eve.new@example.com" in text_of(notice)
            message = await smtp_server.mailbox.wait_for("eve.new@example.com", subject=CONFIRM_NEW)
            token = link_in(message, "/confirm-email-change")
            assert (await c.get("/api/users/me")).json()["email"] == "eve@example.com"

            async with client_for(app) as other_device:
                r = await other_device.post("/api/auth/confirm-email-change", json={"token": token})
            assert r.status_code == 200, r.text
            assert r.json() == {"email": "eve.new@example.com", "is_verified": True}
            me = (await c.get("/api/users/me")).json()
            assert (me["email"], me["is_verified"]) == ("eve.new@example.com", True)
            assert (await login(c, "eve.new@example.com")).status_code == 200
            assert (await login(c, "eve@example.com")).status_code == 401
            again = await c.post("/api/auth/confirm-email-change", json={"token": token})
            assert again.json()["code"] == "EMAIL_TOKEN_USED"

    async def test_an_account_without_an_address_can_add_one(
        self, mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
    ) -> None:
        async with mail_app(smtp_server.port) as app, client_for(app) as c:
            r = await c.post("/users/", json={"username": "tutor", "password": PASSWORD})
            assert r.status_code == 200
            r = await c.post("/token", data={"username": "tutor", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await c.post(
                "/api/auth/change-email",
                json={"current_password": PASSWORD, "new_email": "tutor@example.com"},
                headers=headers,
            )
            assert r.status_code == 202
            token = link_in(
                await smtp_server.mailbox.wait_for("tutor@example.com"), "/confirm-email-change"
            )
            r = await c.post("/api/auth/confirm-email-change", json={"token": token})
            assert r.status_code == 200
            assert await outbox_kinds(engine) == ["change_email"]

    async def test_an_address_taken_before_confirmation_is_refused_and_the_link_kept(
        self, mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
    ) -> None:
        async with (
            mail_app(smtp_server.port) as app,
            client_for(app) as c,
            client_for(app) as rival,
        ):
            await signup(c, "first")
            r = await c.post(
                "/api/auth/change-email",
                json={"current_password": PASSWORD, "new_email": "wanted@example.com"},
            )
            assert r.status_code == 202
            token = link_in(
                await smtp_server.mailbox.wait_for("wanted@example.com"), "/confirm-email-change"
            )
            await signup(rival, "rival", "Wanted@Example.com")
            r = await c.post("/api/auth/confirm-email-change", json={"token": token})
            assert (r.status_code, r.json()["code"]) == (409, "EMAIL_TAKEN")
            async with engine.connect() as conn:
                unspent = await conn.execute(
                    text("SELECT used_at IS NULL FROM email_tokens WHERE purpose = 'change_email'")
                )
                assert unspent.scalar_one() is True
            assert (await c.get("/api/users/me")).json()["email"] == "first@example.com"

    async def test_refusals(
        self, app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await signup(client, "zed")
        async with client_for(app) as other:
            await signup(other, "other")

        async def change(new_email: Any, password: str = PASSWORD) -> httpx.Response:
            return await client.post(
                "/api/auth/change-email",
                json={"current_password": password, "new_email": new_email},
            )

        r = await change("z2@example.com", "wrong password!")
        assert (r.status_code, r.json()["code"]) == (400, "CURRENT_PASSWORD_INCORRECT")
        r = await change("ZED@example.com")
        assert (r.status_code, r.json()["code"]) == (422, "EMAIL_UNCHANGED")
        r = await change("Other@example.com")
        assert (r.status_code, r.json()["code"]) == (409, "EMAIL_TAKEN")
        assert r.json()["errors"][0]["field"] == "new_email"
        for bad in ("", "nope", "a@b.c\r\nBcc: x@evil.example", "x" * 400 + "@e.com", 5, None):
            r = await change(bad)
            assert r.status_code == 422, bad
        assert await outbox_kinds(engine) == ["verify_email", "verify_email"]

        assert (await change("z2@example.com")).status_code == 202
        r = await change("z3@example.com")
        assert (r.status_code, r.json()["code"]) == (429, "TOO_MANY_REQUESTS")
        assert int(r.headers["Retry-After"]) > 0

    async def test_links_expire_and_die_with_a_password_change(
        self, app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await signup(client, "max")
        r = await client.post(
            "/api/auth/change-email",
            json={"current_password": PASSWORD, "new_email": "max2@example.com"},
        )
        assert r.status_code == 202
        async with engine.connect() as conn:
            body = (
                await conn.execute(
                    text("SELECT text_body FROM email_outbox WHERE kind = 'change_email'")
                )
            ).scalar_one()
        token = body.split("token=")[1].split()[0]
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE email_tokens SET expires_at = now() - interval '1 second'")
            )
        r = await client.post("/api/auth/confirm-email-change", json={"token": token})
        assert r.json()["code"] == "EMAIL_TOKEN_EXPIRED"
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE email_tokens SET expires_at = now() + interval '1 hour'")
            )
        r = await client.post(
            "/api/auth/change-password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert r.status_code == 204
        r = await client.post("/api/auth/confirm-email-change", json={"token": token})
        assert r.json()["code"] == "EMAIL_TOKEN_INVALID"


async def test_a_link_acts_on_its_own_user_whoever_opens_it(
    mail_app: Any, smtp_server: SmtpServer
) -> None:
    async with (
        mail_app(smtp_server.port) as app,
        client_for(app) as alice,
        client_for(app) as bob,
    ):
        await signup(alice, "alice")
        await signup(bob, "bob")
        r = await alice.post(
            "/api/auth/change-email",
            json={"current_password": PASSWORD, "new_email": "alice2@example.com"},
        )
        assert r.status_code == 202
        token = link_in(
            await smtp_server.mailbox.wait_for("alice2@example.com"), "/confirm-email-change"
        )
        # Bob, signed in, opens Alice's link: it changes Alice's address, never his.
        assert (await bob.post("/api/auth/confirm-email-change", json={"token": token})).is_success
        assert (await bob.get("/api/users/me")).json()["email"] == "bob@example.com"
        assert (await alice.get("/api/users/me")).json()["email"] == "alice2@example.com"


async def test_the_owner_hears_of_a_sign_up_with_their_address_once_per_interval(
    mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
) -> None:
    async with mail_app(smtp_server.port) as app, client_for(app) as c:
        await signup(c, "owner")
        for attempt in ("first", "second"):
            r = await c.post(
                "/api/auth/signup",
                json={"username": attempt, "email": "OWNER@example.com", "password": PASSWORD},
            )
            assert (r.status_code, r.json()["code"]) == (409, "EMAIL_TAKEN")
        r = await c.post(
            "/users/",
            json={"username": "third", "email": "owner@example.com", "password": PASSWORD},
        )
        assert r.status_code == 409
        # A taken username alone is no attempt on anyone's address.
        r = await c.post(
            "/api/auth/signup",
            json={"username": "owner", "email": "fresh@example.com", "password": PASSWORD},
        )
        assert r.json()["code"] == "USERNAME_TAKEN"
        await app.state.deferred.drain()
        notice = await smtp_server.mailbox.wait_for("owner@example.com", subject="tried to sign up")
        assert "/forgot-password" in text_of(notice) and "Hello owner" in text_of(notice)
    assert (await outbox_kinds(engine)).count("signup_attempt") == 1

"""Two-factor settings (enrol, confirm, recovery codes, disable) and step-up, through the
HTTP API. Time is moved by patching the two-factor service's clock, so each test can
have fresh TOTP steps without waiting."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.kit.clock import utc_now
from tests.conftest import client_for

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "purple elephant skates daily"
RECOVERY_CODE = re.compile(r"[a-z2-9]{5}-[a-z2-9]{5}")
SENSITIVE: list[tuple[str, dict[str, Any] | None]] = [
    ("/api/auth/2fa/enrol", None),
    ("/api/auth/2fa/recovery-codes", None),
    ("/api/auth/2fa/disable", None),
    ("/api/sessions/revoke-others", None),
]


class Clock:
    """The two-factor service's clock, movable in whole TOTP steps."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return utc_now() + self.offset

    def next_step(self) -> None:
        self.offset += timedelta(seconds=30)

    def code(self, secret: str, steps: int = 0) -> str:
        return str(pyotp.TOTP(secret).at(self.now() + timedelta(seconds=30 * steps)))


@pytest.fixture(autouse=True)
def _tables_emptied_after_each_test(engine: AsyncEngine) -> None:
    """Asking for ``engine`` is what makes the suite's cleanup run after a test."""


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr("authflow.two_factor.service.utc_now", c.now)
    return c


async def signed_in(app: FastAPI, username: str | None = None) -> tuple[httpx.AsyncClient, str]:
    """A client signed in as a new account (not yet opened: use it with ``async with``)."""
    username = username or f"u{uuid.uuid4().hex[:10]}"
    async with client_for(app) as first:
        r = await first.post(
            "/api/auth/signup",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
    c = client_for(app)
    c.cookies = first.cookies
    return c, username


async def enrol(c: httpx.AsyncClient, clock: Clock) -> tuple[str, list[str]]:
    r = await c.post("/api/auth/2fa/enrol")
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    r = await c.post("/api/auth/2fa/enrol/confirm", json={"code": clock.code(secret)})
    assert r.status_code == 200, r.text
    clock.next_step()
    return secret, r.json()["recovery_codes"]


async def age_session(engine: AsyncEngine, username: str, minutes: int = 11) -> None:
    """As if the user signed in ``minutes`` ago and has not proved anything since."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE user_sessions SET authenticated_at = now() - make_interval(mins => :m)"
                " WHERE user_id = (SELECT id FROM users WHERE username = :u)"
            ),
            {"m": minutes, "u": username},
        )


async def events(engine: AsyncEngine, username: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT kind FROM auth_events WHERE user_id ="
                " (SELECT id FROM users WHERE username = :u) ORDER BY id"
            ),
            {"u": username},
        )
        return list(rows.scalars())


async def outbox_subjects(engine: AsyncEngine, address: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT subject FROM email_outbox WHERE to_address = :a ORDER BY id"),
            {"a": address},
        )
        return list(rows.scalars())


# Enrolment


async def test_enrolment_gives_a_secret_a_uri_and_a_qr_code_and_changes_nothing_yet(
    app: FastAPI, engine: AsyncEngine
) -> None:
    c, username = await signed_in(app)
    async with c:
        r = await c.get("/api/auth/2fa")
        assert r.json() == {"enabled": False, "enabled_at": None, "recovery_codes_left": 0}

        r = await c.post("/api/auth/2fa/enrol")
        assert r.status_code == 200
        assert r.headers["cache-control"].startswith("no-store")
        body = r.json()
        secret = body["secret"]
        assert len(base64.b32decode(secret)) == 20  # 160 bits
        uri = urlsplit(body["otpauth_uri"])
        assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
        assert unquote(uri.path) == f"/Authflow:{username}@example.com"
        assert parse_qs(uri.query) == {"secret": [secret], "issuer": ["Authflow"]}
        assert (
            body["qr_svg"].startswith("<svg")
            and 'xmlns="http://www.w3.org/2000/svg"' in (body["qr_svg"])
        )
        assert "<script" not in body["qr_svg"]

        assert (await c.get("/api/auth/2fa")).json()["enabled"] is False
    # Unconfirmed: the password alone still signs in.
    async with client_for(app) as other:
        r = await other.post("/api/auth/login", json={"login": username, "password": PASSWORD})
        assert r.status_code == 200
    # The secret is stored sealed, not in the clear.
    async with engine.connect() as conn:
        sealed = (await conn.execute(text("SELECT sealed_secret FROM totp_credentials"))).scalar()
    assert secret.encode() not in sealed and base64.b32decode(secret) not in sealed


async def test_starting_again_replaces_an_unconfirmed_secret(app: FastAPI, clock: Clock) -> None:
    c, _ = await signed_in(app)
    async with c:
        first = (await c.post("/api/auth/2fa/enrol")).json()["secret"]
        second = (await c.post("/api/auth/2fa/enrol")).json()["secret"]
        assert first != second
        r = await c.post("/api/auth/2fa/enrol/confirm", json={"code": clock.code(first)})
        assert r.status_code == 400
        assert r.json()["code"] == "TWO_FACTOR_CODE_INVALID"
        r = await c.post("/api/auth/2fa/enrol/confirm", json={"code": clock.code(second)})
        assert r.status_code == 200


async def test_confirming_turns_two_factor_on_with_ten_recovery_codes(
    app: FastAPI, engine: AsyncEngine, clock: Clock
) -> None:
    c, username = await signed_in(app)
    async with c:
        secret, codes = await enrol(c, clock)
        assert len(codes) == 10 and len(set(codes)) == 10
        assert all(RECOVERY_CODE.fullmatch(code) for code in codes)
        status = (await c.get("/api/auth/2fa")).json()
        assert status["enabled"] is True and status["recovery_codes_left"] == 10
        assert status["enabled_at"] is not None
        # Confirming again, or starting again, is refused while it is on.
        r = await c.post("/api/auth/2fa/enrol/confirm", json={"code": clock.code(secret)})
        assert (r.status_code, r.json()["code"]) == (409, "TWO_FACTOR_ALREADY_ENABLED")
        r = await c.post("/api/auth/2fa/enrol")
        assert (r.status_code, r.json()["code"]) == (409, "TWO_FACTOR_ALREADY_ENABLED")
    assert "two_factor_enabled" in await events(engine, username)
    subjects = await outbox_subjects(engine, f"{username}@example.com")
    assert "Two-factor authentication was turned on for your Authflow account" in subjects
    # Only keyed hashes of the recovery codes are stored.
    async with engine.connect() as conn:
        stored = list(
            (
                await conn.execute(
                    text(
                        "SELECT code_hash FROM recovery_codes WHERE user_id ="
                        " (SELECT id FROM users WHERE username = :u)"
                    ),
                    {"u": username},
                )
            ).scalars()
        )
    assert len(stored) == 10
    assert not {code.replace("-", "") for code in codes} & set(stored)


async def test_confirm_without_enrolment_is_refused(app: FastAPI) -> None:
    c, _ = await signed_in(app)
    async with c:
        r = await c.post("/api/auth/2fa/enrol/confirm", json={"code": "123456"})
        assert (r.status_code, r.json()["code"]) == (409, "TWO_FACTOR_ENROLMENT_NOT_STARTED")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("12345", 400),
        ("1234567", 400),
        ("abcdef", 400),
        ("12 34 56", 400),
        (" 123456", 400),
        ("１２３４５６", 400),
        ("1" * 10_000, 422),
        ("", 422),
        (123456, 422),
        (None, 422),
        (["123456"], 422),
    ],
)
async def test_malformed_confirm_codes_are_refused(
    app: FastAPI, clock: Clock, code: object, status: int
) -> None:
    c, _ = await signed_in(app)
    async with c:
        await c.post("/api/auth/2fa/enrol")
        r = await c.post("/api/auth/2fa/enrol/confirm", json={"code": code})
        assert r.status_code == status, r.text
        assert (await c.get("/api/auth/2fa")).json()["enabled"] is False
        r = await c.post("/api/auth/2fa/enrol/confirm", json={})
        assert r.status_code == 422


async def test_enrolment_routes_need_a_signed_in_user(app: FastAPI) -> None:
    async with client_for(app) as anonymous:
        for path in ("/api/auth/2fa/enrol", "/api/auth/2fa/enrol/confirm", "/api/auth/step-up"):
            r = await anonymous.post(path, json={"code": "123456"})
            assert r.status_code == 401, path
        assert (await anonymous.get("/api/auth/2fa")).status_code == 401


async def test_a_cookie_request_without_the_csrf_header_is_refused(app: FastAPI) -> None:
    c, _ = await signed_in(app)
    async with c:
        r = await c.post("/api/auth/2fa/enrol", headers={"X-CSRF-Token": "wrong"})
        assert (r.status_code, r.json()["code"]) == (403, "CSRF_TOKEN_INVALID")


# Step-up


@pytest.mark.parametrize(("path", "body"), SENSITIVE)
async def test_sensitive_actions_need_a_recent_authentication(
    app: FastAPI, engine: AsyncEngine, clock: Clock, path: str, body: dict[str, Any] | None
) -> None:
    c, username = await signed_in(app)
    async with c:
        secret = None if path == "/api/auth/2fa/enrol" else (await enrol(c, clock))[0]
        await age_session(engine, username)
        r = await c.post(path, json=body)
        assert (r.status_code, r.json()["code"]) == (403, "STEP_UP_REQUIRED"), r.text
        if secret is None:
            # No two-factor yet: the password is the step-up, not a code.
            r = await c.post("/api/auth/step-up", json={"code": "123456"})
            assert r.status_code == 422
            r = await c.post("/api/auth/step-up", json={"password": PASSWORD})
        else:
            r = await c.post("/api/auth/step-up", json={"code": clock.code(secret)})
        assert r.status_code == 200, r.text
        assert r.json() == {"expires_in": 600}
        r = await c.post(path, json=body)
        assert r.status_code in (200, 204), r.text
    assert "step_up" in await events(engine, username)


async def test_a_fresh_sign_in_counts_as_recent(app: FastAPI, clock: Clock) -> None:
    c, _ = await signed_in(app)
    async with c:
        r = await c.post("/api/auth/2fa/enrol")
        assert r.status_code == 200
        r = await c.post("/api/sessions/revoke-others")
        assert r.status_code == 200


async def test_step_up_with_the_password_for_an_account_without_two_factor(
    app: FastAPI, engine: AsyncEngine
) -> None:
    c, username = await signed_in(app)
    async with c:
        await age_session(engine, username)
        r = await c.post("/api/auth/step-up", json={"password": "not the password at all"})
        assert (r.status_code, r.json()["code"]) == (400, "CURRENT_PASSWORD_INCORRECT")
        assert r.json()["errors"][0]["field"] == "password"
        assert (await c.post("/api/sessions/revoke-others")).status_code == 403
        r = await c.post("/api/auth/step-up", json={"code": "123456"})
        assert r.status_code == 422
        r = await c.post("/api/auth/step-up", json={"password": PASSWORD})
        assert r.status_code == 200
        assert (await c.post("/api/sessions/revoke-others")).status_code == 200
    kinds = await events(engine, username)
    assert "login_failed" in kinds and "step_up" in kinds


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"password": PASSWORD, "code": "123456"},
        {"password": ""},
        {"password": "x" * 5000},
        {"password": 12345678},
        {"code": 123456},
        {"code": "1" * 10_000},
        {"password": "nul\x00byte password"},
        [],
        "password",
    ],
)
async def test_malformed_step_up_requests_are_refused(app: FastAPI, body: object) -> None:
    c, _ = await signed_in(app)
    async with c:
        r = await c.post("/api/auth/step-up", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "VALIDATION_ERROR"


async def test_step_up_with_a_code_for_an_account_with_two_factor(
    app: FastAPI, engine: AsyncEngine, clock: Clock
) -> None:
    c, username = await signed_in(app)
    async with c:
        secret, codes = await enrol(c, clock)
        await age_session(engine, username)
        r = await c.post("/api/auth/step-up", json={"password": PASSWORD})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "code"
        r = await c.post("/api/auth/step-up", json={"code": clock.code(secret, steps=3)})
        assert (r.status_code, r.json()["code"]) == (400, "TWO_FACTOR_CODE_INVALID")
        r = await c.post("/api/auth/step-up", json={"code": clock.code(secret)})
        assert r.status_code == 200
        # The same code again is a replay.
        await age_session(engine, username)
        r = await c.post("/api/auth/step-up", json={"code": clock.code(secret)})
        assert r.status_code == 400
        # A recovery code works once, in any case and without its hyphen.
        r = await c.post("/api/auth/step-up", json={"code": codes[0].upper().replace("-", "")})
        assert r.status_code == 200
        r = await c.post("/api/auth/step-up", json={"code": codes[0]})
        assert r.status_code == 400
        assert (await c.get("/api/auth/2fa")).json()["recovery_codes_left"] == 9
    kinds = await events(engine, username)
    # The code three steps ahead, the replay, the spent recovery code.
    assert kinds.count("two_factor_failed") == 3
    assert "recovery_code_used" in kinds


async def test_one_code_sent_many_times_at_once_passes_once(
    app: FastAPI, engine: AsyncEngine, clock: Clock
) -> None:
    c, username = await signed_in(app)
    async with c:
        secret, _ = await enrol(c, clock)
        await age_session(engine, username)
        code = clock.code(secret)
        answers = await asyncio.gather(
            *(c.post("/api/auth/step-up", json={"code": code}) for _ in range(10))
        )
    assert sorted(r.status_code for r in answers) == [200] + [400] * 9


async def test_wrong_step_up_passwords_are_throttled(
    make_app: Callable[..., FastAPI], engine: AsyncEngine
) -> None:
    app = make_app(login_free_failures_per_pair=2)
    async with app.router.lifespan_context(app):
        c, _ = await signed_in(app)
        async with c:
            wrong = {"password": "wrong guess " * 2}
            statuses = [
                (await c.post("/api/auth/step-up", json=wrong)).status_code for _ in range(4)
            ]
    assert statuses[:2] == [400, 400]
    assert 429 in statuses[2:]


async def test_change_password_and_email_want_a_code_from_two_factor_accounts(
    app: FastAPI, engine: AsyncEngine, clock: Clock
) -> None:
    c, username = await signed_in(app)
    async with c:
        secret, _ = await enrol(c, clock)
        await age_session(engine, username)
        change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        r = await c.post("/api/auth/change-password", json=change)
        assert (r.status_code, r.json()["code"]) == (403, "STEP_UP_REQUIRED")
        email = {"current_password": PASSWORD, "new_email": f"new-{username}@example.com"}
        r = await c.post("/api/auth/change-email", json=email)
        assert (r.status_code, r.json()["code"]) == (403, "STEP_UP_REQUIRED")
        assert (await c.post("/api/auth/step-up", json={"code": clock.code(secret)})).is_success
        assert (await c.post("/api/auth/change-email", json=email)).status_code == 202
        assert (await c.post("/api/auth/change-password", json=change)).status_code == 204


async def test_without_two_factor_the_current_password_is_the_step_up(
    app: FastAPI, engine: AsyncEngine
) -> None:
    c, username = await signed_in(app)
    async with c:
        await age_session(engine, username)
        r = await c.post(
            "/api/auth/change-password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert r.status_code == 204


async def test_turning_two_factor_on_asks_other_sessions_to_step_up_again(
    app: FastAPI, clock: Clock
) -> None:
    c, username = await signed_in(app)
    async with c, client_for(app) as other:
        r = await other.post("/api/auth/login", json={"login": username, "password": PASSWORD})
        assert r.status_code == 200
        await enrol(c, clock)
        r = await other.post("/api/sessions/revoke-others")
        assert (r.status_code, r.json()["code"]) == (403, "STEP_UP_REQUIRED")
        # The session that confirmed the code is fresh.
        assert (await c.post("/api/sessions/revoke-others")).status_code == 200


# Recovery codes and turning it off


async def test_new_recovery_codes_void_the_old_ones(
    app: FastAPI, engine: AsyncEngine, clock: Clock
) -> None:
    c, username = await signed_in(app)
    async with c:
        _, old = await enrol(c, clock)
        r = await c.post("/api/auth/2fa/recovery-codes")
        assert r.status_code == 200
        new = r.json()["recovery_codes"]
        assert len(new) == 10 and not set(new) & set(old)
        await age_session(engine, username)
        assert (await c.post("/api/auth/step-up", json={"code": old[0]})).status_code == 400
        assert (await c.post("/api/auth/step-up", json={"code": new[0]})).status_code == 200
    assert "recovery_codes_regenerated" in await events(engine, username)


async def test_turning_it_off(app: FastAPI, engine: AsyncEngine, clock: Clock) -> None:
    c, username = await signed_in(app)
    async with c:
        await enrol(c, clock)
        assert (await c.post("/api/auth/2fa/disable")).status_code == 204
        assert (await c.get("/api/auth/2fa")).json() == {
            "enabled": False,
            "enabled_at": None,
            "recovery_codes_left": 0,
        }
        r = await c.post("/api/auth/2fa/disable")
        assert (r.status_code, r.json()["code"]) == (409, "TWO_FACTOR_NOT_ENABLED")
        r = await c.post("/api/auth/2fa/recovery-codes")
        assert (r.status_code, r.json()["code"]) == (409, "TWO_FACTOR_NOT_ENABLED")
    async with client_for(app) as again:
        r = await again.post("/api/auth/login", json={"login": username, "password": PASSWORD})
        assert r.status_code == 200
    async with engine.connect() as conn:
        for table in ("totp_credentials", "recovery_codes"):
            left = await conn.execute(
                text(
                    f"SELECT count(*) FROM {table} WHERE user_id ="  # noqa: S608 (fixed names)
                    " (SELECT id FROM users WHERE username = :u)"
                ),
                {"u": username},
            )
            assert left.scalar() == 0
    assert "two_factor_disabled" in await events(engine, username)
    subjects = await outbox_subjects(engine, f"{username}@example.com")
    assert "Two-factor authentication was turned off for your Authflow account" in subjects


async def test_a_bearer_client_can_manage_two_factor_too(app: FastAPI, clock: Clock) -> None:
    _, username = await signed_in(app)
    async with client_for(app, csrf=False) as api:
        r = await api.post("/token", data={"username": username, "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await api.post("/api/auth/2fa/enrol", headers=bearer)
        assert r.status_code == 200
        secret = r.json()["secret"]
        r = await api.post(
            "/api/auth/2fa/enrol/confirm", json={"code": clock.code(secret)}, headers=bearer
        )
        assert r.status_code == 200

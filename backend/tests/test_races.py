"""Races through the HTTP API against the real PostgreSQL: many requests at once for one
name, one token, one session. Exactly one wins, the others get a clear refusal (never a
500, never a duplicate), and no session outlives an account's disabling.

Each test runs an app whose pool holds a connection for every request in flight, so the
requests reach PostgreSQL together rather than one after another. Covered elsewhere:
twenty uses of one reset link (tests/account/test_router.py), twenty refresh_token grants
of one token (tests/auth/test_refresh.py; here the browser's cookie refresh joins them,
and the successor is used), concurrent two-factor codes (tests/auth/test_second_factor.py,
tests/two_factor/test_router.py).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.auth.cookies import REFRESH_COOKIE
from authflow.auth.router import MFA_OTP_GRANT
from tests.admin.test_router import admin_client
from tests.conftest import client_for

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
# The numbers: a hundred sign-ups of one name, twenty uses of one token.
SIGNUPS = 100
AT_ONCE = 20
# Seconds a whole race may take: far beyond a loaded machine's, short of a hang.
RACE_BOUND = 120
# Connections per app (and as many again as overflow): every racer gets one at once.
POOL = 30
# Password hashes at once for the sign-up races: all of them, so the hundred reach the
# database together (most refusals then come from the unique index, not the pre-check).
SIGNUP_HASHES = 32
# When the admin disables the account, in rounds: as the racers start, or once this
# many of them have answered.
DISABLE_AFTER = (0, 0, 2, 8, 15)
# Refusals of a disabled account's right password count as failures; the races must
# not run into the throttle's delays.
NO_THROTTLE = {
    "login_free_failures_per_pair": 1000,
    "login_free_failures_per_account": 1000,
    "login_free_failures_per_ip": 100_000,
}


@pytest.fixture
def racing_app(make_app: Callable[..., FastAPI], engine: AsyncEngine) -> Callable[..., Any]:
    """An app (lifespan running) with a pool for every racer; ``hash_concurrency`` sets
    how many password hashes run at once, so how bunched the racers reach the database."""

    @asynccontextmanager
    async def _running(**overrides: Any) -> AsyncIterator[FastAPI]:
        app = make_app(db_pool_size=POOL, **{**NO_THROTTLE, **overrides})
        async with app.router.lifespan_context(app):
            yield app
            await app.state.deferred.drain()

    return _running


async def scalar(engine: AsyncEngine, statement: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(statement), params)).scalar_one()


async def each_from_its_own_client(
    app: FastAPI, requests: Sequence[tuple[str, str, dict[str, Any]]]
) -> list[httpx.Response]:
    """(method, path, httpx arguments) all at once, each from a fresh client."""

    async def one(method: str, path: str, kwargs: dict[str, Any]) -> httpx.Response:
        async with client_for(app) as c:
            return await c.request(method, path, **kwargs)

    # Bounded: a lock-up fails the test instead of holding CI until its time limit.
    async with asyncio.timeout(RACE_BOUND):
        return await asyncio.gather(*(one(m, p, kw) for m, p, kw in requests))


def tally(answers: Sequence[httpx.Response]) -> Counter[tuple[int, str | None]]:
    """(status, error code) of each answer, counted."""
    return Counter(
        (r.status_code, r.json().get("code") if r.status_code >= 400 else None) for r in answers
    )


# 1. One username, one email address: one account


SIGNUP_ROUTES = pytest.mark.parametrize(
    ("path", "created"), [("/api/auth/signup", 201), ("/users/", 200)]
)


class TestSignupRace:
    @SIGNUP_ROUTES
    async def test_one_username_makes_one_account(
        self, racing_app: Any, engine: AsyncEngine, path: str, created: int
    ) -> None:
        # Differently cased: the names clash on their normalised key. "email" in the name:
        # a clash is told apart by the constraint it hit, whatever the name contains.
        names = ["email_fan", "Email_Fan", "EMAIL_FAN"]
        async with racing_app(hash_concurrency=SIGNUP_HASHES) as app:
            answers = await each_from_its_own_client(
                app,
                [
                    (
                        "POST",
                        path,
                        {
                            "json": {
                                "username": names[i % len(names)],
                                "email": f"racer{i}@example.com",
                                "password": PASSWORD,
                            }
                        },
                    )
                    for i in range(SIGNUPS)
                ],
            )
        assert tally(answers) == {(created, None): 1, (409, "USERNAME_TAKEN"): SIGNUPS - 1}
        winner = next(r.json() for r in answers if r.status_code == created)
        assert await scalar(engine, "SELECT count(*) FROM users") == 1
        assert await scalar(engine, "SELECT email FROM users") == winner["email"]

    @SIGNUP_ROUTES
    async def test_one_email_address_makes_one_account(
        self, racing_app: Any, engine: AsyncEngine, path: str, created: int
    ) -> None:
        addresses = ["shared@example.com", "Shared@Example.com", "SHARED@example.com"]
        async with racing_app(hash_concurrency=SIGNUP_HASHES) as app:
            answers = await each_from_its_own_client(
                app,
                [
                    (
                        "POST",
                        path,
                        {
                            "json": {
                                "username": f"racer{i}",
                                "email": addresses[i % len(addresses)],
                                "password": PASSWORD,
                            }
                        },
                    )
                    for i in range(SIGNUPS)
                ],
            )
        assert tally(answers) == {(created, None): 1, (409, "EMAIL_TAKEN"): SIGNUPS - 1}
        winner = next(r.json() for r in answers if r.status_code == created)
        assert await scalar(engine, "SELECT count(*) FROM users") == 1
        assert await scalar(engine, "SELECT username FROM users") == winner["username"]


# 2. One refresh token presented many times at once


class TestRefreshRace:
    async def test_cookie_and_grant_refreshes_of_one_token_get_one_successor(
        self, racing_app: Any, engine: AsyncEngine
    ) -> None:
        """The same token as the browser's cookie and as a refresh_token grant, twenty
        times at once: each answer is the same successor (the grace window), the session
        lives on, and the successor works."""
        async with racing_app() as app, client_for(app) as browser:
            await browser.post(
                "/api/auth/signup",
                json={"username": "rory", "email": "rory@example.com", "password": PASSWORD},
            )
            token = browser.cookies[REFRESH_COOKIE]

            async def by_cookie() -> tuple[httpx.Response, str | None]:
                async with client_for(app) as c:
                    c.cookies = browser.cookies
                    r = await c.post("/api/auth/refresh")
                    return r, r.cookies.get(REFRESH_COOKIE)

            async def by_grant() -> tuple[httpx.Response, str | None]:
                async with client_for(app) as c:
                    r = await c.post(
                        "/token", data={"grant_type": "refresh_token", "refresh_token": token}
                    )
                    return r, r.json().get("refresh_token")

            async with asyncio.timeout(RACE_BOUND):
                answers = await asyncio.gather(
                    *(by_cookie() if i % 2 else by_grant() for i in range(AT_ONCE))
                )
            assert Counter(r.status_code for r, _ in answers) == {200: AT_ONCE}
            successors = {successor for _, successor in answers}
            assert len(successors) == 1
            (successor,) = successors
            assert successor is not None
            assert successor != token

            assert await scalar(engine, "SELECT count(*) FROM spent_refresh_tokens") == 1
            assert await scalar(engine, "SELECT count(*) FROM user_sessions") == 1
            assert (
                await scalar(engine, "SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL")
                == 1
            )
            browser.cookies.set(REFRESH_COOKIE, successor, path="/api/auth")
            r = await browser.post("/api/auth/refresh")
            assert r.status_code == 200, r.text
            assert (await browser.get("/api/users/me")).status_code == 200


# 3. One emailed link opened many times at once


TOKEN_IN_LINK = re.compile(r"\?token=([\w-]+)")


async def link_token(engine: AsyncEngine, kind: str, to_address: str) -> str:
    body = await scalar(
        engine,
        "SELECT text_body FROM email_outbox WHERE kind = :kind AND to_address = :to",
        kind=kind,
        to=to_address,
    )
    match = TOKEN_IN_LINK.search(body)
    assert match, body
    return match.group(1)


class TestEmailLinkRace:
    async def test_one_verification_link_verifies_once(
        self, racing_app: Any, engine: AsyncEngine
    ) -> None:
        async with racing_app() as app, client_for(app) as c:
            r = await c.post(
                "/api/auth/signup",
                json={"username": "vera", "email": "vera@example.com", "password": PASSWORD},
            )
            assert r.status_code == 201
            token = await link_token(engine, "verify_email", "vera@example.com")
            answers = await each_from_its_own_client(
                app, [("POST", "/api/auth/verify-email", {"json": {"token": token}})] * AT_ONCE
            )
            assert tally(answers) == {(200, None): 1, (400, "EMAIL_TOKEN_USED"): AT_ONCE - 1}
            assert (await c.get("/api/users/me")).json()["is_verified"] is True
        assert (
            await scalar(engine, "SELECT count(*) FROM auth_events WHERE kind = 'email_verified'")
            == 1
        )

    async def test_one_change_of_address_link_changes_it_once(
        self, racing_app: Any, engine: AsyncEngine
    ) -> None:
        async with racing_app() as app, client_for(app) as c:
            r = await c.post(
                "/api/auth/signup",
                json={"username": "cleo", "email": "cleo@example.com", "password": PASSWORD},
            )
            assert r.status_code == 201
            r = await c.post(
                "/api/auth/change-email",
                json={"current_password": PASSWORD, "new_email": "cleo.new@example.com"},
            )
            assert r.status_code == 202, r.text
            token = await link_token(engine, "change_email", "cleo.new@example.com")
            answers = await each_from_its_own_client(
                app,
                [("POST", "/api/auth/confirm-email-change", {"json": {"token": token}})] * AT_ONCE,
            )
            assert tally(answers) == {(200, None): 1, (400, "EMAIL_TOKEN_USED"): AT_ONCE - 1}
            me = (await c.get("/api/users/me")).json()
            assert (me["email"], me["is_verified"]) == ("cleo.new@example.com", True)
        assert (
            await scalar(engine, "SELECT count(*) FROM auth_events WHERE kind = 'email_changed'")
            == 1
        )


# 4. An admin disables an account while it signs in and refreshes


@dataclass
class Credential:
    """What one sign-in or refresh handed out: a browser's cookies, or a bearer token
    and its refresh token."""

    app: FastAPI
    cookies: httpx.Cookies | None = None
    access_token: str | None = None
    refresh_token: str | None = None

    @classmethod
    def from_grant(cls, app: FastAPI, answer: httpx.Response) -> Credential:
        body = answer.json()
        return cls(app, access_token=body["access_token"], refresh_token=body["refresh_token"])

    async def me(self) -> int:
        async with client_for(self.app) as c:
            if self.cookies is not None:
                c.cookies = self.cookies
                return (await c.get("/api/users/me")).status_code
            headers = {"Authorization": f"Bearer {self.access_token}"}
            return (await c.get("/api/users/me", headers=headers)).status_code

    async def refresh(self) -> Credential | None:
        """Its refresh token used once: the successor, or None if refused."""
        async with client_for(self.app) as c:
            if self.cookies is not None:
                c.cookies = self.cookies
                r = await c.post("/api/auth/refresh")
            else:
                r = await c.post(
                    "/token",
                    data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
                )
            if r.status_code == 401:
                assert r.json()["code"] == "INVALID_REFRESH_TOKEN"
                return None
            assert r.status_code == 200, r.text
            if self.cookies is not None:
                return Credential(self.app, cookies=c.cookies)
            return Credential.from_grant(self.app, r)


async def sign_in(app: FastAPI, n: int, username: str = "dana") -> Credential | None:
    """A browser sign-in (even ``n``) or a password grant (odd); None if refused."""
    async with client_for(app) as c:
        if n % 2:
            r = await c.post("/token", data={"username": username, "password": PASSWORD})
        else:
            r = await c.post("/api/auth/login", json={"login": username, "password": PASSWORD})
        if r.status_code == 401:
            assert r.json()["code"] == "LOGIN_BAD_CREDENTIALS"
            return None
        assert r.status_code == 200, r.text
        return Credential.from_grant(app, r) if n % 2 else Credential(app, cookies=c.cookies)


@dataclass
class Challenge:
    """A two-factor sign-in after its password step: the browser's challenge cookie, or
    the password grant's mfa_token."""

    app: FastAPI
    cookies: httpx.Cookies | None = None
    mfa_token: str | None = None

    @classmethod
    async def start(cls, app: FastAPI, n: int, username: str) -> Challenge:
        async with client_for(app) as c:
            if n % 2:
                r = await c.post("/token", data={"username": username, "password": PASSWORD})
                assert r.status_code == 403, r.text
                return cls(app, mfa_token=r.json()["mfa_token"])
            r = await c.post("/api/auth/login", json={"login": username, "password": PASSWORD})
            assert r.status_code == 202, r.text
            return cls(app, cookies=c.cookies)

    async def finish(self, code: str) -> Credential | None:
        """The code step; None if refused because the account was disabled meanwhile."""
        async with client_for(self.app) as c:
            if self.cookies is not None:
                c.cookies = self.cookies
                r = await c.post("/api/auth/login/2fa", json={"code": code})
            else:
                r = await c.post(
                    "/token",
                    data={"grant_type": MFA_OTP_GRANT, "mfa_token": self.mfa_token, "otp": code},
                )
            if r.status_code in (400, 401):
                assert r.json()["code"] == "TWO_FACTOR_CHALLENGE_INVALID", r.text
                return None
            assert r.status_code == 200, r.text
            if self.cookies is not None:
                return Credential(self.app, cookies=c.cookies)
            return Credential.from_grant(self.app, r)


async def enrol(c: httpx.AsyncClient) -> list[str]:
    """Turn on two-factor for ``c``'s account; its recovery codes."""
    secret = (await c.post("/api/auth/2fa/enrol")).json()["secret"]
    # The current step's code (the racers use recovery codes): the previous step's goes
    # stale if a step boundary falls between computing it and the server checking it.
    r = await c.post("/api/auth/2fa/enrol/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200, r.text
    return list(r.json()["recovery_codes"])


async def disable_midway(
    admin: httpx.AsyncClient, target: str, racers: list[asyncio.Task[T]], after: int
) -> list[T]:
    """Disable the account once ``after`` of the racers have answered (0: straight
    away), and return every racer's result once all have answered."""
    pending = set(racers)
    while len(racers) - len(pending) < after:
        _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    r = await admin.post(f"/api/admin/users/{target}/disable")
    assert r.status_code == 204, r.text
    async with asyncio.timeout(RACE_BOUND):
        return list(await asyncio.gather(*racers))


async def live_sessions(engine: AsyncEngine, user_id: str) -> int:
    return int(
        await scalar(
            engine,
            "SELECT count(*) FROM user_sessions WHERE user_id = :id AND revoked_at IS NULL",
            id=user_id,
        )
    )


async def none_works(credentials: Sequence[Credential]) -> None:
    """Not one of them reaches the API or refreshes."""
    assert {await c.me() for c in credentials} <= {401}
    assert {await c.refresh() for c in credentials} <= {None}


@asynccontextmanager
async def account_and_admin(
    app: FastAPI, engine: AsyncEngine, username: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str, httpx.AsyncClient]]:
    """A signed-in client of a new account, its id, and an admin's client."""
    async with client_for(app) as c:
        r = await c.post(
            "/api/auth/signup",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
        async with await admin_client(app, engine, "boss") as admin:
            yield c, r.json()["id"], admin


async def enable_and_check(
    engine: AsyncEngine, admin: httpx.AsyncClient, target: str, credentials: list[Credential]
) -> None:
    """A round's end: no session of the disabled account is live and, once it is enabled
    again, nothing the round handed out works."""
    assert await live_sessions(engine, target) == 0
    assert (await admin.post(f"/api/admin/users/{target}/enable")).status_code == 204
    await none_works(credentials)


class TestDisableRace:
    async def test_no_session_from_a_racing_sign_in_outlives_the_disable(
        self, racing_app: Any, engine: AsyncEngine
    ) -> None:
        """Each round, twenty sign-ins (browser and password grant) start and the admin
        disables the account while they are under way."""
        async with (
            racing_app() as app,
            account_and_admin(app, engine, "dana") as (_, target, admin),
        ):
            refused = 0
            for after in DISABLE_AFTER:
                racers = [asyncio.create_task(sign_in(app, n)) for n in range(AT_ONCE)]
                results = await disable_midway(admin, target, racers, after)
                signed_in = [cred for cred in results if cred]
                refused += len(results) - len(signed_in)
                await enable_and_check(engine, admin, target, signed_in)
            assert await sign_in(app, 0) is not None
        # Some lost the race: the disable landed while they were under way.
        assert refused > 0

    async def test_no_session_from_a_racing_two_factor_sign_in_outlives_the_disable(
        self, racing_app: Any, engine: AsyncEngine
    ) -> None:
        """The same for the code step of two-factor sign-ins: nine challenges, each
        finished with its own recovery code, while the admin disables the account."""
        async with (
            racing_app() as app,
            account_and_admin(app, engine, "tara") as (owner, target, admin),
        ):
            kept_back, *_ = await enrol(owner)
            for after in DISABLE_AFTER:
                # Signed in with the code kept back, the owner is recent enough for new codes.
                owner_signed_in = await (await Challenge.start(app, 0, "tara")).finish(kept_back)
                assert owner_signed_in is not None
                async with client_for(app) as c:
                    c.cookies = owner_signed_in.cookies
                    r = await c.post("/api/auth/2fa/recovery-codes")
                    assert r.status_code == 200, r.text
                kept_back, *codes = r.json()["recovery_codes"]
                challenges = await asyncio.gather(
                    *(Challenge.start(app, n, "tara") for n in range(len(codes)))
                )
                racers = [
                    asyncio.create_task(challenge.finish(code))
                    for challenge, code in zip(challenges, codes, strict=True)
                ]
                results = await disable_midway(admin, target, racers, min(after, len(codes) - 1))
                signed_in = [cred for cred in results if cred]
                await enable_and_check(engine, admin, target, [owner_signed_in, *signed_in])

    async def test_no_refresh_racing_the_disable_keeps_a_session(
        self, racing_app: Any, engine: AsyncEngine
    ) -> None:
        """Each round, ten sessions each refresh twice at once (the second a grace-window
        retry) while the admin disables the account: neither the old tokens nor the
        successors work afterwards."""
        async with (
            racing_app() as app,
            account_and_admin(app, engine, "dana") as (_, target, admin),
        ):
            for after in DISABLE_AFTER:
                started = await asyncio.gather(*(sign_in(app, n) for n in range(AT_ONCE // 2)))
                sessions = [cred for cred in started if cred]
                assert len(sessions) == len(started)
                racers = [asyncio.create_task(s.refresh()) for s in sessions for _ in range(2)]
                results = await disable_midway(admin, target, racers, after)
                refreshed = [cred for cred in results if cred]
                await enable_and_check(engine, admin, target, sessions + refreshed)

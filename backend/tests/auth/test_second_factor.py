"""The code step of a two-factor sign-in, on both sign-in routes: the browser's
``/api/auth/login`` → 202 + challenge cookie → ``/api/auth/login/2fa``, and the OAuth2
``/token`` password grant → 403 ``mfa_required`` → the mfa-otp grant.

The two-factor service's clock is stopped at the start of a TOTP step a minute or so
ahead of real time and moved only in whole steps, so every code a test computes is
exactly the server's and no code rolls over mid-test. Ahead, never behind: a challenge
must be younger than the account's password (signup, real time) to be accepted.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.kit.clock import utc_now
from tests.conftest import client_for

PASSWORD = "correct horse battery staple"
MFA_GRANT = "urn:authflow:params:oauth:grant-type:mfa-otp"
CHALLENGE_COOKIE = "__Secure-authflow_2fa"
ACCESS_COOKIE = "__Host-authflow_access"
REFRESH_COOKIE = "__Secure-authflow_refresh"
SESSION_COOKIES = frozenset(
    {ACCESS_COOKIE, REFRESH_COOKIE, "__Host-authflow_csrf", "__Host-authflow_signed_in"}
)
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

Route = Literal["browser", "token"]
BOTH_ROUTES = pytest.mark.parametrize("route", ["browser", "token"])


class Clock:
    """The two-factor service's clock: stopped, and moved only when a test says so."""

    def __init__(self) -> None:
        step = int(utc_now().timestamp()) // 30 + 2
        self.moment = datetime.fromtimestamp(step * 30, tz=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: int) -> None:
        self.moment += timedelta(seconds=seconds)

    def next_step(self, steps: int = 1) -> None:
        self.advance(30 * steps)

    def code(self, secret: str, steps: int = 0) -> str:
        """The authenticator app's code, ``steps`` steps from now."""
        return str(pyotp.TOTP(secret).at(self.moment + timedelta(seconds=30 * steps)))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr("authflow.two_factor.service.utc_now", c.now)
    return c


@dataclass
class Enrolled:
    client: httpx.AsyncClient  # signed in since signup, with two-factor on
    username: str
    secret: str
    recovery_codes: list[str]

    def wrong_code(self, clock: Clock) -> str:
        # Five steps ahead: a real code, just not one the server accepts now.
        return clock.code(self.secret, steps=5)


Enrol = Callable[..., Awaitable[Enrolled]]


@pytest.fixture
async def enrol(app: FastAPI, engine: AsyncEngine, clock: Clock) -> AsyncIterator[Enrol]:
    """Signup → enrol → confirm for a fresh account (on ``app``, or another app given);
    the clock is left on the next step, so its current code is unused."""
    opened: list[httpx.AsyncClient] = []

    async def _enrol(on: FastAPI | None = None) -> Enrolled:
        username = f"u{uuid.uuid4().hex[:10]}"
        c = client_for(on or app)
        opened.append(c)
        r = await c.post(
            "/api/auth/signup",
            json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
        r = await c.post("/api/auth/2fa/enrol")
        assert r.status_code == 200, r.text
        secret = r.json()["secret"]
        r = await c.post("/api/auth/2fa/enrol/confirm", json={"code": clock.code(secret)})
        assert r.status_code == 200, r.text
        clock.next_step()
        return Enrolled(c, username, secret, r.json()["recovery_codes"])

    yield _enrol
    for c in opened:
        await c.aclose()


# Helpers


async def start(
    c: httpx.AsyncClient, route: Route, username: str, *, remember_me: bool = False
) -> str:
    """The password step on ``route``: the challenge it earns."""
    if route == "browser":
        r = await c.post(
            "/api/auth/login",
            json={"login": username, "password": PASSWORD, "remember_me": remember_me},
        )
        assert r.status_code == 202, r.text
        return r.cookies[CHALLENGE_COOKIE]
    r = await c.post("/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 403, r.text
    return str(r.json()["mfa_token"])


async def finish(c: httpx.AsyncClient, route: Route, challenge: str, code: str) -> httpx.Response:
    """The code step on ``route``, naming the challenge explicitly (the cookie for the
    browser, the mfa_token for /token)."""
    if route == "browser":
        return await c.post(
            "/api/auth/login/2fa",
            json={"code": code},
            headers={"Cookie": f"{CHALLENGE_COOKIE}={challenge}"},
        )
    return await c.post(
        "/token", data={"grant_type": MFA_GRANT, "mfa_token": challenge, "otp": code}
    )


def set_cookies(r: httpx.Response) -> dict[str, dict[str, str]]:
    """Each cookie ``r`` sets, by name: its value under "", then its attributes by
    lower-case name."""
    found = {}
    for header in r.headers.get_list("set-cookie"):
        pair, *attributes = header.split(";")
        name, _, value = pair.partition("=")
        parsed = {"": value}
        for attribute in attributes:
            key, _, setting = attribute.strip().partition("=")
            parsed[key.lower()] = setting
        found[name.strip()] = parsed
    return found


def assert_signed_in(r: httpx.Response, route: Route) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    if route == "browser":
        assert set(set_cookies(r)) >= SESSION_COOKIES
    else:
        assert set(r.json()) == {"access_token", "token_type", "expires_in", "refresh_token"}


def assert_refused(r: httpx.Response, status: int, code: str) -> None:
    """Refused with ``status`` and ``code``, and nothing issued."""
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert r.headers["cache-control"] == "no-store"
    assert not SESSION_COOKIES & set(set_cookies(r))
    assert "access_token" not in r.json() and "refresh_token" not in r.json()


def assert_code_refused(r: httpx.Response, route: Route) -> None:
    assert_refused(r, 400, "TWO_FACTOR_CODE_INVALID")
    if route == "token":
        assert r.json()["error"] == "invalid_grant"


def assert_challenge_refused(r: httpx.Response, route: Route) -> None:
    """A dead challenge is the browser's 401; at /token, RFC 6749's 400 invalid_grant."""
    if route == "browser":
        assert_refused(r, 401, "TWO_FACTOR_CHALLENGE_INVALID")
    else:
        assert_refused(r, 400, "TWO_FACTOR_CHALLENGE_INVALID")
        assert r.json()["error"] == "invalid_grant"


async def execute(engine: AsyncEngine, statement: str, **params: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(statement), params)


async def events(engine: AsyncEngine, username: str) -> list[tuple[str, Any]]:
    """The account's audit events, oldest first: (kind, detail)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT kind, detail FROM auth_events WHERE user_id ="
                " (SELECT id FROM users WHERE username = :u) ORDER BY id"
            ),
            {"u": username},
        )
        return [(row.kind, row.detail) for row in rows]


async def session_count(engine: AsyncEngine, username: str) -> int:
    async with engine.connect() as conn:
        count = await conn.execute(
            text(
                "SELECT count(*) FROM user_sessions"
                " WHERE user_id = (SELECT id FROM users WHERE username = :u)"
            ),
            {"u": username},
        )
        return int(count.scalar_one())


class TestPasswordStep:
    async def test_a_right_password_earns_a_challenge_cookie_and_no_session(
        self, app: FastAPI, engine: AsyncEngine, enrol: Enrol
    ) -> None:
        account = await enrol()
        async with client_for(app) as browser:
            r = await browser.post(
                "/api/auth/login", json={"login": account.username, "password": PASSWORD}
            )
            assert r.status_code == 202, r.text
            assert r.json() == {"two_factor_required": True, "expires_in": 300}
            assert r.headers["cache-control"] == "no-store"
            cookies = set_cookies(r)
            assert list(cookies) == [CHALLENGE_COOKIE]
            challenge = cookies[CHALLENGE_COOKIE]
            assert challenge[""] and challenge[""] not in r.text
            assert {"httponly", "secure"} <= set(challenge)
            assert challenge["samesite"].lower() == "strict"
            assert challenge["path"] == "/api/auth/login"
            assert "domain" not in challenge
            assert 0 < int(challenge["max-age"]) <= 300

            for me in ("/users/me/", "/api/users/me"):
                r = await browser.get(me)
                assert_refused(r, 401, "NOT_AUTHENTICATED")
        # The signup session is the only one; the password step wrote no login_ok.
        assert await session_count(engine, account.username) == 1
        assert "login_ok" not in [kind for kind, _ in await events(engine, account.username)]

    async def test_a_wrong_password_earns_nothing_and_does_not_reveal_two_factor(
        self, app: FastAPI, enrol: Enrol
    ) -> None:
        account = await enrol()
        async with client_for(app) as browser:
            r = await browser.post(
                "/api/auth/login",
                json={"login": account.username, "password": "not the password at all"},
            )
            assert_refused(r, 401, "LOGIN_BAD_CREDENTIALS")
            assert not set_cookies(r)
            r = await browser.post(
                "/token", data={"username": account.username, "password": "not the password"}
            )
            assert_refused(r, 401, "LOGIN_BAD_CREDENTIALS")
            assert "mfa_token" not in r.json()


class TestCodeStep:
    async def test_the_current_code_signs_in_and_clears_the_challenge(
        self, app: FastAPI, engine: AsyncEngine, clock: Clock, enrol: Enrol
    ) -> None:
        account = await enrol()
        async with client_for(app) as browser:
            await start(browser, "browser", account.username)
            challenge = browser.cookies[CHALLENGE_COOKIE]
            # The cookie the password step set is what the browser sends back.
            r = await browser.post("/api/auth/login/2fa", json={"code": clock.code(account.secret)})
            assert_signed_in(r, "browser")
            assert r.json()["username"] == account.username
            assert "hashed_password" not in r.json()
            cleared = set_cookies(r)[CHALLENGE_COOKIE]
            assert cleared[""] in ("", '""')
            assert (cleared["max-age"], cleared["path"]) == ("0", "/api/auth/login")
            assert browser.cookies.get(CHALLENGE_COOKIE) is None

            r = await browser.get("/users/me/")
            assert r.status_code == 200, r.text
            assert r.json()["username"] == account.username
            assert (await browser.get("/api/users/me")).status_code == 200

            # The same challenge again, even with a fresh code, is spent.
            clock.next_step()
            r = await finish(browser, "browser", challenge, clock.code(account.secret))
            assert_challenge_refused(r, "browser")
        assert await session_count(engine, account.username) == 2

    @pytest.mark.parametrize("remember_me", [True, False])
    async def test_remember_me_from_the_password_step_carries_through(
        self, app: FastAPI, engine: AsyncEngine, clock: Clock, enrol: Enrol, remember_me: bool
    ) -> None:
        account = await enrol()
        async with client_for(app) as browser:
            await start(browser, "browser", account.username, remember_me=remember_me)
            r = await browser.post("/api/auth/login/2fa", json={"code": clock.code(account.secret)})
            assert_signed_in(r, "browser")
        refresh = set_cookies(r)[REFRESH_COOKIE]
        if remember_me:
            assert int(refresh["max-age"]) == 30 * 24 * 3600
        else:
            assert "max-age" not in refresh
        async with engine.connect() as conn:
            stored = await conn.execute(
                text(
                    "SELECT s.remember_me FROM user_sessions s JOIN users u ON u.id = s.user_id"
                    " WHERE u.username = :u ORDER BY s.created_at DESC LIMIT 1"
                ),
                {"u": account.username},
            )
        assert stored.scalar_one() is remember_me

    @BOTH_ROUTES
    async def test_a_finished_challenge_cannot_be_used_again(
        self, app: FastAPI, clock: Clock, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            challenge = await start(c, route, account.username)
            assert_signed_in(await finish(c, route, challenge, clock.code(account.secret)), route)
            clock.next_step()
            r = await finish(c, route, challenge, clock.code(account.secret))
            assert_challenge_refused(r, route)

    async def test_one_challenge_sent_many_times_at_once_signs_in_once(
        self, app: FastAPI, clock: Clock, enrol: Enrol
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            challenge = await start(c, "browser", account.username)
            code = clock.code(account.secret)
            answers = await asyncio.gather(
                *(finish(c, "browser", challenge, code) for _ in range(5))
            )
        assert sorted(r.status_code for r in answers) == [200, 401, 401, 401, 401]
        for r in answers:
            if r.status_code == 401:
                assert_challenge_refused(r, "browser")

    @BOTH_ROUTES
    async def test_a_code_counts_only_for_the_account_whose_challenge_it_is(
        self, app: FastAPI, clock: Clock, enrol: Enrol, route: Route
    ) -> None:
        mine, theirs = await enrol(), await enrol()
        async with client_for(app) as c:
            challenge = await start(c, route, mine.username)
            assert_code_refused(await finish(c, route, challenge, clock.code(theirs.secret)), route)
            assert_code_refused(await finish(c, route, challenge, theirs.recovery_codes[0]), route)
            assert_signed_in(await finish(c, route, challenge, clock.code(mine.secret)), route)


class TestReplay:
    @BOTH_ROUTES
    async def test_an_accepted_code_and_older_ones_are_refused_on_a_new_challenge(
        self, app: FastAPI, clock: Clock, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            code = clock.code(account.secret)
            challenge = await start(c, route, account.username)
            assert_signed_in(await finish(c, route, challenge, code), route)
            challenge = await start(c, route, account.username)
            assert_code_refused(await finish(c, route, challenge, code), route)
            # The step before it (the enrolment's) is spent as well.
            previous = clock.code(account.secret, steps=-1)
            assert_code_refused(await finish(c, route, challenge, previous), route)
            # The next step's code is fine, on the same challenge.
            clock.next_step()
            assert_signed_in(await finish(c, route, challenge, clock.code(account.secret)), route)

    @BOTH_ROUTES
    async def test_an_accepted_code_is_refused_even_when_its_step_has_just_passed(
        self, app: FastAPI, clock: Clock, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            code = clock.code(account.secret)
            challenge = await start(c, route, account.username)
            assert_signed_in(await finish(c, route, challenge, code), route)
            # The code is now the previous step's, which is otherwise still accepted.
            clock.next_step()
            challenge = await start(c, route, account.username)
            assert_code_refused(await finish(c, route, challenge, code), route)

    @BOTH_ROUTES
    async def test_the_previous_steps_code_is_accepted_once_if_unused(
        self, app: FastAPI, clock: Clock, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        # The enrolment used step S and left the clock on S+1; at S+2, S+1 is unused.
        clock.next_step()
        async with client_for(app) as c:
            previous = clock.code(account.secret, steps=-1)
            challenge = await start(c, route, account.username)
            assert_signed_in(await finish(c, route, challenge, previous), route)
            challenge = await start(c, route, account.username)
            assert_code_refused(await finish(c, route, challenge, previous), route)
            # The current step is newer than the one just used: still good.
            assert_signed_in(await finish(c, route, challenge, clock.code(account.secret)), route)

    async def test_a_newer_code_spends_the_previous_step_too(
        self, app: FastAPI, clock: Clock, enrol: Enrol
    ) -> None:
        account = await enrol()
        clock.next_step()
        async with client_for(app) as c:
            challenge = await start(c, "browser", account.username)
            code = clock.code(account.secret)
            assert_signed_in(await finish(c, "browser", challenge, code), "browser")
            challenge = await start(c, "browser", account.username)
            previous = clock.code(account.secret, steps=-1)
            assert_code_refused(await finish(c, "browser", challenge, previous), "browser")

    @BOTH_ROUTES
    @pytest.mark.parametrize("steps", [-3, -2, 1, 3])
    async def test_codes_outside_the_current_and_previous_step_are_refused(
        self, app: FastAPI, clock: Clock, enrol: Enrol, route: Route, steps: int
    ) -> None:
        account = await enrol()
        clock.next_step(3)  # so that even three steps back is after the enrolment's step
        async with client_for(app) as c:
            challenge = await start(c, route, account.username)
            far = clock.code(account.secret, steps=steps)
            assert far != clock.code(account.secret)
            assert_code_refused(await finish(c, route, challenge, far), route)
            assert_signed_in(await finish(c, route, challenge, clock.code(account.secret)), route)

    async def test_one_code_on_many_challenges_at_once_signs_in_once(
        self, app: FastAPI, clock: Clock, enrol: Enrol
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            challenges = [await start(c, "browser", account.username) for _ in range(4)]
            challenges.append(await start(c, "token", account.username))
            code = clock.code(account.secret)
            answers = await asyncio.gather(
                *(finish(c, "browser", ch, code) for ch in challenges[:4]),
                finish(c, "token", challenges[4], code),
            )
        assert sorted(r.status_code for r in answers) == [200, 400, 400, 400, 400]
        for r in answers:
            if r.status_code == 400:
                assert_refused(r, 400, "TWO_FACTOR_CODE_INVALID")


MALFORMED: list[tuple[str, Callable[[str], str], int]] = [
    ("five digits", lambda code: code[:5], 400),
    ("seven digits", lambda code: code + "0", 400),
    ("letters", lambda code: "abcdef", 400),
    ("spaced", lambda code: f"{code[:2]} {code[2:4]} {code[4:]}", 400),
    ("leading space", lambda code: " " + code, 400),
    ("trailing space", lambda code: code + " ", 400),
    ("trailing newline", lambda code: code + "\n", 400),
    ("fullwidth digits", lambda code: code.translate(FULLWIDTH), 400),
    ("arabic-indic digits", lambda code: code.translate(ARABIC_INDIC), 400),
    ("nul byte", lambda code: code + "\x00", 400),
    ("10,000 digits", lambda code: code * 1667, 422),
    ("empty", lambda code: "", 422),
]


class TestMalformedCodes:
    @BOTH_ROUTES
    @pytest.mark.parametrize(
        ("variant", "status"),
        [pytest.param(variant, status, id=name) for name, variant, status in MALFORMED],
    )
    async def test_a_misshapen_current_code_is_refused_and_spends_nothing(
        self,
        app: FastAPI,
        clock: Clock,
        enrol: Enrol,
        route: Route,
        variant: Callable[[str], str],
        status: int,
    ) -> None:
        account = await enrol()
        code = clock.code(account.secret)
        async with client_for(app) as c:
            challenge = await start(c, route, account.username)
            r = await finish(c, route, challenge, variant(code))
            if status == 400:
                assert_code_refused(r, route)
            else:
                assert_refused(r, 422, "VALIDATION_ERROR")
            # The real code still works on the same challenge.
            assert_signed_in(await finish(c, route, challenge, code), route)

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param("number", id="json number"),
            pytest.param(None, id="null"),
            pytest.param("list", id="list"),
            pytest.param("object", id="object"),
            pytest.param("missing", id="missing"),
            pytest.param("not an object", id="string body"),
        ],
    )
    async def test_a_code_that_is_not_a_json_string_is_422(
        self, app: FastAPI, clock: Clock, enrol: Enrol, body: str | None
    ) -> None:
        account = await enrol()
        code = clock.code(account.secret)
        sent: object = {
            "number": {"code": int(code)},
            None: {"code": None},
            "list": {"code": [code]},
            "object": {"code": {"code": code}},
            "missing": {},
            "not an object": code,
        }[body]
        async with client_for(app) as browser:
            await start(browser, "browser", account.username)
            r = await browser.post("/api/auth/login/2fa", json=sent)
            assert_refused(r, 422, "VALIDATION_ERROR")
            r = await browser.post("/api/auth/login/2fa", json={"code": code})
            assert_signed_in(r, "browser")


class TestRecoveryCodes:
    @BOTH_ROUTES
    async def test_a_recovery_code_works_once_in_any_case_with_or_without_its_hyphen(
        self, app: FastAPI, engine: AsyncEngine, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        first, second = account.recovery_codes[:2]
        async with client_for(app) as c:
            r = await finish(c, route, await start(c, route, account.username), first.upper())
            assert_signed_in(r, route)
            # Spent, however it is written.
            challenge = await start(c, route, account.username)
            assert_code_refused(await finish(c, route, challenge, first), route)
            assert_code_refused(await finish(c, route, challenge, first.replace("-", "")), route)
            r = await finish(c, route, challenge, second.replace("-", ""))
            assert_signed_in(r, route)
        status = await account.client.get("/api/auth/2fa")
        assert status.json()["recovery_codes_left"] == 8
        recorded = await events(engine, account.username)
        assert [kind for kind, _ in recorded].count("recovery_code_used") == 2
        logins = [detail for kind, detail in recorded if kind == "login_ok"]
        assert [detail["second_factor"] for detail in logins] == ["recovery_code"] * 2

    @pytest.mark.parametrize(
        "mangle",
        [
            pytest.param(lambda code: code.replace("-", "--"), id="two hyphens"),
            pytest.param(lambda code: code.replace("-", " "), id="space for hyphen"),
            pytest.param(lambda code: " " + code, id="leading space"),
            pytest.param(lambda code: code[:-1], id="one short"),
            pytest.param(lambda code: code.upper().translate(FULLWIDTH), id="fullwidth"),
        ],
    )
    async def test_a_misshapen_recovery_code_is_refused_and_not_spent(
        self, app: FastAPI, enrol: Enrol, mangle: Callable[[str], str]
    ) -> None:
        account = await enrol()
        code = account.recovery_codes[0]
        async with client_for(app) as c:
            challenge = await start(c, "browser", account.username)
            assert_code_refused(await finish(c, "browser", challenge, mangle(code)), "browser")
            assert_signed_in(await finish(c, "browser", challenge, code), "browser")


class TestChallengeLifecycle:
    @BOTH_ROUTES
    async def test_a_challenge_lasts_five_minutes(
        self, app: FastAPI, clock: Clock, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            older = await start(c, route, account.username)
            newer = await start(c, route, account.username)
            clock.advance(270)
            assert_signed_in(await finish(c, route, newer, clock.code(account.secret)), route)
            clock.advance(30)  # 300 s since the password step
            r = await finish(c, route, older, clock.code(account.secret))
            assert_challenge_refused(r, route)

    @BOTH_ROUTES
    async def test_five_wrong_codes_end_a_challenge(
        self, app: FastAPI, engine: AsyncEngine, clock: Clock, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            # Four wrong codes are survivable...
            challenge = await start(c, route, account.username)
            for _ in range(4):
                r = await finish(c, route, challenge, account.wrong_code(clock))
                assert_code_refused(r, route)
            assert_signed_in(await finish(c, route, challenge, clock.code(account.secret)), route)
            # ...the fifth is not: then even the right code is refused.
            clock.next_step()
            challenge = await start(c, route, account.username)
            for _ in range(5):
                r = await finish(c, route, challenge, account.wrong_code(clock))
                assert_code_refused(r, route)
            r = await finish(c, route, challenge, clock.code(account.secret))
            assert_challenge_refused(r, route)
        async with engine.connect() as conn:
            attempts = await conn.execute(
                text("SELECT failed_attempts FROM two_factor_challenges WHERE used_at IS NULL")
            )
        assert attempts.scalar_one() == 5

    async def test_a_challenge_finishes_only_the_sign_in_that_started_it(
        self, app: FastAPI, clock: Clock, enrol: Enrol
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            from_browser = await start(c, "browser", account.username)
            from_token = await start(c, "token", account.username)
            code = clock.code(account.secret)
            assert_challenge_refused(await finish(c, "browser", from_token, code), "browser")
            assert_challenge_refused(await finish(c, "token", from_browser, code), "token")
            # Neither refusal spent anything: each still finishes where it started.
            assert_signed_in(await finish(c, "browser", from_browser, code), "browser")
            clock.next_step()
            code = clock.code(account.secret)
            assert_signed_in(await finish(c, "token", from_token, code), "token")

    @BOTH_ROUTES
    async def test_a_challenge_is_not_a_session_token(
        self, app: FastAPI, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            challenge = await start(c, route, account.username)
        async with client_for(app, csrf=False) as other:
            r = await other.get("/users/me/", headers={"Authorization": f"Bearer {challenge}"})
            assert_refused(r, 401, "NOT_AUTHENTICATED")
            r = await other.get("/api/users/me", headers={"Cookie": f"{ACCESS_COOKIE}={challenge}"})
            assert_refused(r, 401, "NOT_AUTHENTICATED")
            r = await other.post(
                "/token", data={"grant_type": "refresh_token", "refresh_token": challenge}
            )
            assert_refused(r, 401, "INVALID_REFRESH_TOKEN")
            assert r.json()["error"] == "invalid_grant"
            r = await other.post(
                "/api/auth/refresh", headers={"Cookie": f"{REFRESH_COOKIE}={challenge}"}
            )
            assert_refused(r, 401, "INVALID_REFRESH_TOKEN")

    @pytest.mark.parametrize(
        "cookie",
        [
            pytest.param(None, id="none"),
            pytest.param("", id="empty"),
            pytest.param(secrets.token_urlsafe(32), id="unknown"),
            pytest.param("x" * 257, id="too long"),
            pytest.param("x" * 10_000, id="10,000 characters"),
        ],
    )
    async def test_the_code_step_without_a_live_challenge_cookie_is_401(
        self, app: FastAPI, clock: Clock, enrol: Enrol, cookie: str | None
    ) -> None:
        account = await enrol()
        headers = {} if cookie is None else {"Cookie": f"{CHALLENGE_COOKIE}={cookie}"}
        async with client_for(app) as browser:
            r = await browser.post(
                "/api/auth/login/2fa", json={"code": clock.code(account.secret)}, headers=headers
            )
            assert_challenge_refused(r, "browser")


class TestBetweenTheSteps:
    @BOTH_ROUTES
    async def test_an_account_disabled_after_the_password_step_is_refused(
        self, app: FastAPI, engine: AsyncEngine, clock: Clock, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            challenge = await start(c, route, account.username)
            await execute(
                engine, "UPDATE users SET is_active = false WHERE username = :u", u=account.username
            )
            r = await finish(c, route, challenge, clock.code(account.secret))
            assert_challenge_refused(r, route)
        assert await session_count(engine, account.username) == 1

    @BOTH_ROUTES
    async def test_a_password_changed_after_the_password_step_voids_the_challenge(
        self, app: FastAPI, engine: AsyncEngine, clock: Clock, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            challenge = await start(c, route, account.username)
            # A reset a second after the password step (on the service's clock, which
            # the challenge was stamped with; the database's now() is behind it).
            await execute(
                engine,
                "UPDATE users SET password_changed_at = :t WHERE username = :u",
                t=clock.now() + timedelta(seconds=1),
                u=account.username,
            )
            r = await finish(c, route, challenge, clock.code(account.secret))
            assert_challenge_refused(r, route)
        assert await session_count(engine, account.username) == 1

    @BOTH_ROUTES
    async def test_turning_two_factor_off_after_the_password_step_voids_the_challenge(
        self, app: FastAPI, clock: Clock, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            challenge = await start(c, route, account.username)
            assert (await account.client.post("/api/auth/2fa/disable")).status_code == 204
            r = await finish(c, route, challenge, clock.code(account.secret))
            assert_challenge_refused(r, route)
            # The password alone now signs in.
            r = await c.post(
                "/api/auth/login", json={"login": account.username, "password": PASSWORD}
            )
            assert r.status_code == 200, r.text


class TestThrottle:
    async def test_wrong_codes_across_fresh_challenges_are_slowed_down(
        self,
        make_app: Callable[..., FastAPI],
        engine: AsyncEngine,
        clock: Clock,
        enrol: Enrol,
    ) -> None:
        app = make_app(login_free_failures_per_pair=2, throttle_base_delay_seconds=60)
        async with app.router.lifespan_context(app):
            account = await enrol(app)
            async with client_for(app) as c:
                # Each challenge is fresh (a new password step), so only the throttle
                # stops a run of guesses.
                for _ in range(2):
                    challenge = await start(c, "browser", account.username)
                    r = await finish(c, "browser", challenge, account.wrong_code(clock))
                    assert_code_refused(r, "browser")
                challenge = await start(c, "browser", account.username)
                # While slowed down, even the right code is not looked at.
                r = await finish(c, "browser", challenge, clock.code(account.secret))
                assert_refused(r, 429, "TOO_MANY_REQUESTS")
                assert 1 <= int(r.headers["retry-after"]) <= 60
                # The count is the account's codes, whichever route sends them.
                mfa_token = await start(c, "token", account.username)
                r = await finish(c, "token", mfa_token, clock.code(account.secret))
                assert_refused(r, 429, "TOO_MANY_REQUESTS")
                assert 1 <= int(r.headers["retry-after"]) <= 60

                # Once the delay has passed, the throttled challenge and code still work:
                # being slowed down spent neither.
                await execute(
                    engine,
                    "UPDATE throttle_counters"
                    " SET last_failure_at = last_failure_at - interval '1 hour'",
                )
                r = await finish(c, "browser", challenge, clock.code(account.secret))
                assert_signed_in(r, "browser")


class TestTokenRoute:
    async def test_the_password_grant_answers_mfa_required_and_issues_nothing(
        self, app: FastAPI, engine: AsyncEngine, enrol: Enrol
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            for grant in ({}, {"grant_type": "password"}):
                r = await c.post(
                    "/token", data={"username": account.username, "password": PASSWORD, **grant}
                )
                assert r.status_code == 403, r.text
                assert r.headers["cache-control"] == "no-store"
                body = r.json()
                assert set(body) == {
                    "code",
                    "detail",
                    "error",
                    "error_description",
                    "mfa_token",
                    "expires_in",
                }
                assert (body["code"], body["error"]) == ("TWO_FACTOR_REQUIRED", "mfa_required")
                assert body["expires_in"] == 300
                assert isinstance(body["mfa_token"], str) and len(body["mfa_token"]) >= 32
                assert not set_cookies(r)
        assert await session_count(engine, account.username) == 1

    async def test_the_mfa_grant_with_the_right_code_issues_working_tokens(
        self, app: FastAPI, engine: AsyncEngine, clock: Clock, enrol: Enrol
    ) -> None:
        account = await enrol()
        async with client_for(app, csrf=False) as c:
            mfa_token = await start(c, "token", account.username)
            r = await finish(c, "token", mfa_token, clock.code(account.secret))
            assert_signed_in(r, "token")
            tokens = r.json()
            assert tokens["token_type"] == "bearer"
            assert tokens["expires_in"] == 900
            assert not set_cookies(r)
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            r = await c.get("/users/me/", headers=bearer)
            assert r.status_code == 200, r.text
            assert r.json()["username"] == account.username
            # The refresh token is an ordinary one.
            r = await c.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            )
            assert r.status_code == 200, r.text
        assert await session_count(engine, account.username) == 2

    async def test_a_wrong_code_is_invalid_grant(
        self, app: FastAPI, clock: Clock, enrol: Enrol
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            mfa_token = await start(c, "token", account.username)
            r = await finish(c, "token", mfa_token, account.wrong_code(clock))
            assert_code_refused(r, "token")
            assert r.json()["error"] == "invalid_grant"
            assert "error_description" in r.json()

    @pytest.mark.parametrize("missing", ["mfa_token", "otp"])
    async def test_a_missing_mfa_token_or_otp_is_422(
        self, app: FastAPI, clock: Clock, enrol: Enrol, missing: str
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            data = {
                "grant_type": MFA_GRANT,
                "mfa_token": await start(c, "token", account.username),
                "otp": clock.code(account.secret),
            }
            del data[missing]
            r = await c.post("/token", data=data)
            assert_refused(r, 422, "VALIDATION_ERROR")
            assert r.json()["error"] == "invalid_request"
            assert r.json()["errors"][0]["field"] == missing

    async def test_an_unknown_or_expired_mfa_token_is_invalid_grant(
        self, app: FastAPI, engine: AsyncEngine, clock: Clock, enrol: Enrol
    ) -> None:
        account = await enrol()
        async with client_for(app) as c:
            code = clock.code(account.secret)
            r = await finish(c, "token", secrets.token_urlsafe(32), code)
            assert_challenge_refused(r, "token")
            mfa_token = await start(c, "token", account.username)
            await execute(
                engine,
                "UPDATE two_factor_challenges SET expires_at = :t",
                t=clock.now() - timedelta(seconds=1),
            )
            assert_challenge_refused(await finish(c, "token", mfa_token, code), "token")
            # Too long to be one of ours is a malformed request, not a lookup.
            r = await finish(c, "token", "x" * 10_000, code)
            assert_refused(r, 422, "VALIDATION_ERROR")


class TestAudit:
    @BOTH_ROUTES
    async def test_wrong_codes_and_second_factor_sign_ins_are_recorded(
        self, app: FastAPI, engine: AsyncEngine, clock: Clock, enrol: Enrol, route: Route
    ) -> None:
        account = await enrol()
        before = len(await events(engine, account.username))
        async with client_for(app) as c:
            challenge = await start(c, route, account.username)
            assert_code_refused(await finish(c, route, challenge, account.wrong_code(clock)), route)
            assert_signed_in(await finish(c, route, challenge, clock.code(account.secret)), route)
        recorded = (await events(engine, account.username))[before:]
        expected_login = {"second_factor": "totp"} | ({"via": "token"} if route == "token" else {})
        assert recorded == [
            ("two_factor_failed", {"via": route}),
            ("login_ok", expected_login),
        ]

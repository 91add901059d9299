"""The admin API: who gets in, every action and its audit event, last-admin protection,
and the user list's search, filters and keyset paging."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import client_for

PASSWORD = "correct horse battery staple"
SOME_ID = "00000000-0000-4000-8000-000000000000"
ROUTES: list[tuple[str, str]] = [
    ("GET", "/api/admin/users"),
    ("GET", f"/api/admin/users/{SOME_ID}"),
    ("POST", f"/api/admin/users/{SOME_ID}/disable"),
    ("POST", f"/api/admin/users/{SOME_ID}/enable"),
    ("POST", f"/api/admin/users/{SOME_ID}/verify-email"),
    ("POST", f"/api/admin/users/{SOME_ID}/password-reset"),
    ("DELETE", f"/api/admin/users/{SOME_ID}/sessions/{SOME_ID}"),
    ("POST", f"/api/admin/users/{SOME_ID}/sessions/revoke-all"),
    ("DELETE", f"/api/admin/users/{SOME_ID}"),
    ("POST", f"/api/admin/users/{SOME_ID}/admin"),
    ("DELETE", f"/api/admin/users/{SOME_ID}/admin"),
    ("GET", "/api/admin/events"),
]


@pytest.fixture(autouse=True)
def _tables_emptied_after_each_test(engine: AsyncEngine) -> None:
    """Asking for ``engine`` is what makes the suite's cleanup run after a test."""


async def sign_up(app: FastAPI, username: str, email: str | None = None) -> httpx.AsyncClient:
    """A client signed in as a new account (open it with ``async with``)."""
    async with client_for(app) as first:
        r = await first.post(
            "/api/auth/signup",
            json={
                "username": username,
                "email": email or f"{username}@example.com",
                "password": PASSWORD,
            },
        )
        assert r.status_code == 201, r.text
    c = client_for(app)
    c.cookies = first.cookies
    return c


async def sql(engine: AsyncEngine, statement: str, **params: Any) -> Any:
    async with engine.begin() as conn:
        return await conn.execute(text(statement), params)


async def make_admin(engine: AsyncEngine, username: str) -> None:
    await sql(engine, "UPDATE users SET is_superuser = true WHERE username = :u", u=username)


async def enrol(c: httpx.AsyncClient) -> str:
    secret = str((await c.post("/api/auth/2fa/enrol")).json()["secret"])
    # The current step's code: the previous one goes stale if a step boundary falls
    # between computing it and the server checking it.
    r = await c.post("/api/auth/2fa/enrol/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200, r.text
    return secret


async def admin_client(app: FastAPI, engine: AsyncEngine, username: str) -> httpx.AsyncClient:
    c = await sign_up(app, username)
    await make_admin(engine, username)
    async with c:
        await enrol(c)
    # A closed client cannot be reopened: hand over its cookies.
    fresh = client_for(app)
    fresh.cookies = c.cookies
    return fresh


async def user_id(engine: AsyncEngine, username: str) -> str:
    result = await sql(engine, "SELECT id FROM users WHERE username = :u", u=username)
    return str(result.scalar_one())


async def kinds(engine: AsyncEngine, target: str) -> list[str]:
    result = await sql(
        engine, "SELECT kind FROM auth_events WHERE user_id = :id ORDER BY id", id=target
    )
    return list(result.scalars())


# Who gets in


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_admin_route_is_a_404_to_other_users(
    app: FastAPI, method: str, path: str
) -> None:
    async with client_for(app) as anonymous:
        assert (await anonymous.request(method, path)).status_code == 401
    async with await sign_up(app, "plainuser") as c:
        r = await c.request(method, path)
        assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND")
        unknown = await c.get("/api/no-such-route")
        assert r.json() == unknown.json()


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_admins_need_two_factor_and_a_recent_code(
    app: FastAPI, engine: AsyncEngine, method: str, path: str
) -> None:
    async with await sign_up(app, "boss") as c:
        await make_admin(engine, "boss")
        r = await c.request(method, path)
        assert (r.status_code, r.json()["code"]) == (403, "TWO_FACTOR_ENROLMENT_REQUIRED")
        secret = await enrol(c)
        await sql(engine, "UPDATE user_sessions SET authenticated_at = now() - interval '11 min'")
        r = await c.request(method, path)
        assert (r.status_code, r.json()["code"]) == (403, "STEP_UP_REQUIRED")
        # Enrolment spent this step's code; replays are tests/two_factor's business.
        await sql(engine, "UPDATE totp_credentials SET last_used_step = NULL")
        r = await c.post("/api/auth/step-up", json={"code": pyotp.TOTP(secret).now()})
        assert r.status_code == 200
        r = await c.request(method, path)
        assert r.status_code not in (401, 403), r.text


async def test_writes_need_the_csrf_header_with_the_cookie(
    app: FastAPI, engine: AsyncEngine
) -> None:
    async with await admin_client(app, engine, "boss") as c:
        target = await user_id(engine, "boss")
        r = await c.post(f"/api/admin/users/{target}/enable", headers={"X-CSRF-Token": "x"})
        assert (r.status_code, r.json()["code"]) == (403, "CSRF_TOKEN_INVALID")


# Actions


async def test_disabling_ends_the_users_sessions_on_their_next_request(
    app: FastAPI, engine: AsyncEngine
) -> None:
    async with (
        await admin_client(app, engine, "boss") as admin,
        await sign_up(app, "victor") as victor,
    ):
        assert (await victor.get("/api/users/me")).status_code == 200
        target = await user_id(engine, "victor")
        assert (await admin.post(f"/api/admin/users/{target}/disable")).status_code == 204
        assert (await victor.get("/api/users/me")).status_code == 401
        r = await victor.post("/api/auth/login", json={"login": "victor", "password": PASSWORD})
        assert r.status_code == 401
        detail = (await admin.get(f"/api/admin/users/{target}")).json()
        assert detail["user"]["is_active"] is False and detail["sessions"] == []
        assert (await admin.post(f"/api/admin/users/{target}/enable")).status_code == 204
        r = await victor.post("/api/auth/login", json={"login": "victor", "password": PASSWORD})
        assert r.status_code == 200
    events = await kinds(engine, target)
    assert events.index("admin_user_disabled") < events.index("admin_user_enabled")
    result = await sql(
        engine,
        "SELECT detail FROM auth_events WHERE kind = 'admin_user_disabled' AND user_id = :id",
        id=target,
    )
    assert result.scalar_one()["actor_username"] == "boss"


async def test_the_last_active_admin_cannot_be_disabled_demoted_or_deleted(
    app: FastAPI, engine: AsyncEngine
) -> None:
    async with await admin_client(app, engine, "boss") as admin:
        me = await user_id(engine, "boss")
        for method, path in (
            ("POST", f"/api/admin/users/{me}/disable"),
            ("DELETE", f"/api/admin/users/{me}/admin"),
            ("DELETE", f"/api/admin/users/{me}"),
        ):
            r = await admin.request(method, path)
            assert (r.status_code, r.json()["code"]) == (409, "LAST_ADMIN"), path
        # A second admin makes it possible; a disabled admin does not count.
        async with await sign_up(app, "deputy"):
            deputy = await user_id(engine, "deputy")
        assert (await admin.post(f"/api/admin/users/{deputy}/admin")).status_code == 204
        assert (await admin.post(f"/api/admin/users/{deputy}/disable")).status_code == 204
        r = await admin.delete(f"/api/admin/users/{me}/admin")
        assert r.status_code == 409
        assert (await admin.post(f"/api/admin/users/{deputy}/enable")).status_code == 204
        assert (await admin.delete(f"/api/admin/users/{me}/admin")).status_code == 204
    assert "admin_role_granted" in await kinds(engine, deputy)
    assert "admin_role_revoked" in await kinds(engine, me)


async def test_two_admins_demoting_each_other_at_once_leave_one(
    app: FastAPI, engine: AsyncEngine
) -> None:
    async with (
        await admin_client(app, engine, "alpha") as alpha,
        await admin_client(app, engine, "bravo") as bravo,
    ):
        a, b = await user_id(engine, "alpha"), await user_id(engine, "bravo")
        answers = await asyncio.gather(
            alpha.delete(f"/api/admin/users/{b}/admin"),
            bravo.delete(f"/api/admin/users/{a}/admin"),
        )
    assert sorted(r.status_code for r in answers) == [204, 409]
    result = await sql(engine, "SELECT count(*) FROM users WHERE is_superuser")
    assert result.scalar_one() == 1


async def test_verify_email_and_password_reset(app: FastAPI, engine: AsyncEngine) -> None:
    async with await admin_client(app, engine, "boss") as admin:
        async with await sign_up(app, "walter"):
            target = await user_id(engine, "walter")
        assert (await admin.post(f"/api/admin/users/{target}/verify-email")).status_code == 204
        r = await admin.post(f"/api/admin/users/{target}/verify-email")
        assert (r.status_code, r.json()["code"]) == (409, "EMAIL_ALREADY_VERIFIED")
        assert (await admin.post(f"/api/admin/users/{target}/password-reset")).status_code == 202
        r = await admin.post(f"/api/admin/users/{target}/password-reset")
        assert (r.status_code, r.json()["code"]) == (429, "TOO_MANY_REQUESTS")
        # An account from the tutorial's /users/ has no address.
        r = await admin.post("/users/", json={"username": "noaddress", "password": PASSWORD})
        assert r.is_success
        bare = await user_id(engine, "noaddress")
        for action in ("verify-email", "password-reset"):
            r = await admin.post(f"/api/admin/users/{bare}/{action}")
            assert (r.status_code, r.json()["code"]) == (409, "NO_EMAIL_ADDRESS")
    result = await sql(
        engine,
        "SELECT count(*) FROM email_outbox WHERE kind = 'reset_password' AND to_address = :a",
        a="walter@example.com",
    )
    assert result.scalar_one() == 1
    events = await kinds(engine, target)
    assert "admin_email_verified" in events and "admin_password_reset_sent" in events


async def test_revoking_sessions(app: FastAPI, engine: AsyncEngine) -> None:
    async with (
        await admin_client(app, engine, "boss") as admin,
        await sign_up(app, "sam") as one,
        client_for(app) as two,
    ):
        r = await two.post("/api/auth/login", json={"login": "sam", "password": PASSWORD})
        assert r.status_code == 200
        target = await user_id(engine, "sam")
        sessions = (await admin.get(f"/api/admin/users/{target}")).json()["sessions"]
        assert len(sessions) == 2
        r = await admin.delete(f"/api/admin/users/{target}/sessions/{sessions[0]['id']}")
        assert r.status_code == 204
        r = await admin.delete(f"/api/admin/users/{target}/sessions/{sessions[0]['id']}")
        assert (r.status_code, r.json()["code"]) == (404, "SESSION_NOT_FOUND")
        r = await admin.post(f"/api/admin/users/{target}/sessions/revoke-all")
        assert r.json() == {"revoked": 1}
        assert (await one.get("/api/users/me")).status_code == 401
        assert (await two.get("/api/users/me")).status_code == 401
    assert (await kinds(engine, target)).count("admin_sessions_revoked") == 2


async def test_deleting_an_account_keeps_its_audit_events(
    app: FastAPI, engine: AsyncEngine
) -> None:
    async with await admin_client(app, engine, "boss") as admin:
        async with await sign_up(app, "gone") as doomed:
            r = await doomed.post("/api/notes", json={"text": "mine"})
            assert r.status_code == 201
        target = await user_id(engine, "gone")
        assert (await admin.delete(f"/api/admin/users/{target}")).status_code == 204
        r = await admin.get(f"/api/admin/users/{target}")
        assert (r.status_code, r.json()["code"]) == (404, "USER_NOT_FOUND")
        r = await admin.delete(f"/api/admin/users/{target}")
        assert r.status_code == 404
        events = (await admin.get("/api/admin/events", params={"user_id": target})).json()
        assert events["items"][0]["kind"] == "admin_user_deleted"
        assert all(item["username"] is None for item in events["items"])
        assert events["items"][0]["detail"]["username"] == "gone"
    for table, column in (
        ("user_sessions", "user_id"),
        ("notes", "owner_id"),
        ("email_tokens", "user_id"),
        ("totp_credentials", "user_id"),
    ):
        left = await sql(
            engine,
            f"SELECT count(*) FROM {table} WHERE {column} = :id",  # noqa: S608 (fixed names)
            id=target,
        )
        assert left.scalar_one() == 0, table
    assert "signup" in await kinds(engine, target)


@pytest.mark.parametrize(
    "path",
    [
        "/api/admin/users/not-a-uuid",
        "/api/admin/users?limit=0",
        "/api/admin/users?limit=101",
        "/api/admin/users?sort=password",
        "/api/admin/users?order=sideways",
        "/api/admin/users?active=maybe",
        "/api/admin/users?cursor=garbage",
        "/api/admin/users?cursor=" + "A" * 2000,
        "/api/admin/users?q=" + "x" * 400,
        "/api/admin/users?q=nul%00",
        "/api/admin/events?kind=DROP%20TABLE",
        "/api/admin/events?since=yesterday",
        "/api/admin/events?before=0",
        "/api/admin/events?user_id=1",
    ],
)
async def test_bad_parameters_are_422(app: FastAPI, engine: AsyncEngine, path: str) -> None:
    async with await admin_client(app, engine, "boss") as admin:
        r = await admin.get(path)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "VALIDATION_ERROR"


async def test_unknown_accounts_are_404(app: FastAPI, engine: AsyncEngine) -> None:
    async with await admin_client(app, engine, "boss") as admin:
        for method, path in ROUTES[1:-1]:
            r = await admin.request(method, path)
            assert r.status_code == 404, path
            assert r.json()["code"] == "USER_NOT_FOUND", path


# Listing and searching


async def add_users(engine: AsyncEngine, names: list[str]) -> None:
    """Accounts straight into the table (no hashing): listing is what is under test."""
    await sql(
        engine,
        "INSERT INTO users (id, username, username_key, email, email_key, hashed_password)"
        " SELECT gen_random_uuid(), n, lower(n), n || '@Example.com', lower(n) || '@example.com',"
        " 'x' FROM unnest(CAST(:names AS text[])) AS n",
        names=names,
    )


async def test_search_is_a_case_insensitive_prefix_of_username_or_email(
    app: FastAPI, engine: AsyncEngine
) -> None:
    await add_users(engine, ["Alice", "alicia", "Bob", "malice", "under_score", "underXscore"])
    await sql(engine, "UPDATE users SET email_key = 'zed@example.com' WHERE username = 'Bob'")
    async with await admin_client(app, engine, "boss") as admin:

        async def names(**params: str) -> set[str]:
            r = await admin.get("/api/admin/users", params=params)
            assert r.status_code == 200, r.text
            return {item["username"] for item in r.json()["items"]}

        assert await names(q="ALI") == {"Alice", "alicia"}
        assert await names(q="zed@") == {"Bob"}
        # LIKE's wildcards are taken literally.
        assert await names(q="under_") == {"under_score"}
        assert await names(q="%") == set()
        # Prefixes at the top of Unicode (no "next" string) and just below the surrogates.
        assert await names(q="al\U0010ffff") == set()
        assert await names(q="al\ud7ff") == set()
        assert len(await names(q="  ")) == 7
        assert await names(q="boss", admin="true", two_factor="true") == {"boss"}
        assert "boss" not in await names(admin="false")
        assert await names(two_factor="false") == {
            "Alice",
            "alicia",
            "Bob",
            "malice",
            "under_score",
            "underXscore",
        }


async def test_paging_is_stable_while_accounts_are_added(app: FastAPI, engine: AsyncEngine) -> None:
    await add_users(engine, [f"user{n:03d}" for n in range(25)])
    async with await admin_client(app, engine, "boss") as admin:
        for sort, order in (("created_at", "desc"), ("username", "asc"), ("username", "desc")):
            seen: list[str] = []
            params = {"limit": "10", "sort": sort, "order": order, "q": "user"}
            page = (await admin.get("/api/admin/users", params=params)).json()
            seen += [item["username"] for item in page["items"]]
            # Accounts added between pages must not shift what comes next.
            await add_users(engine, [f"userx{uuid.uuid4().hex[:6]}" for _ in range(5)])
            while page["next_cursor"]:
                page = (
                    await admin.get(
                        "/api/admin/users", params={**params, "cursor": page["next_cursor"]}
                    )
                ).json()
                seen += [item["username"] for item in page["items"]]
            assert len(seen) == len(set(seen)), sort
            originals = [name for name in seen if name[4:].isdigit()]
            assert len(originals) == 25, (sort, order)
            if sort == "username":
                assert seen == sorted(seen, reverse=order == "desc")
        # A cursor continues only the sort it came from.
        first = (await admin.get("/api/admin/users", params={"limit": "1"})).json()
        r = await admin.get(
            "/api/admin/users", params={"sort": "username", "cursor": first["next_cursor"]}
        )
        assert (r.status_code, r.json()["code"]) == (422, "VALIDATION_ERROR")


async def test_events_search(app: FastAPI, engine: AsyncEngine) -> None:
    async with await admin_client(app, engine, "boss") as admin:
        async with client_for(app) as stranger:
            r = await stranger.post("/api/auth/login", json={"login": "boss", "password": "nope"})
            assert r.status_code == 401
        me = await user_id(engine, "boss")

        async def search(**params: str) -> dict[str, Any]:
            r = await admin.get("/api/admin/events", params=params)
            assert r.status_code == 200, r.text
            return dict(r.json())

        everything = await search()
        assert {"signup", "login_failed", "two_factor_enabled"} <= {
            e["kind"] for e in everything["items"]
        }
        failed = await search(kind="login_failed")
        assert [e["kind"] for e in failed["items"]] == ["login_failed"]
        assert failed["items"][0]["username"] == "boss"
        assert failed["items"][0]["ip"] == "203.0.113.7"
        assert (await search(ip="203.0.113.7"))["items"]
        assert not (await search(ip="198.51.100.1"))["items"]
        assert {e["user_id"] for e in (await search(user_id=me))["items"]} == {me}
        assert not (await search(since="2999-01-01T00:00:00Z"))["items"]
        assert not (await search(until="2000-01-01T00:00:00"))["items"]
        # The first and last moments a datetime holds, and beyond them once in UTC or
        # widened by the id margin (found by tests/test_api_fuzz.py: these were 500s).
        count = len(everything["items"])
        for edge in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00"):
            assert len((await search(since=edge))["items"]) == count, edge
            assert not (await search(until=edge))["items"], edge
        for edge in ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59-01:00"):
            assert len((await search(until=edge))["items"]) == count, edge
            assert not (await search(since=edge))["items"], edge
        first = await search(limit="1")
        assert len(first["items"]) == 1 and first["next_before"] == first["items"][0]["id"]
        second = await search(limit="1", before=str(first["next_before"]))
        assert second["items"][0]["id"] < first["items"][0]["id"]

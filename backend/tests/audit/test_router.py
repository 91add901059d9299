"""The audit trail: every action writes its event exactly once, users read only their own,
and rows can't be changed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.audit import service as audit_service
from authflow.kit.clock import utc_now
from tests.conftest import client_for
from tests.email.conftest import SmtpServer, link_in

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "purple elephant skates daily"


async def kinds(engine: AsyncEngine, username: str | None = None) -> Counter[str]:
    query = "SELECT e.kind FROM auth_events e"
    if username is not None:
        query += " JOIN users u ON u.id = e.user_id WHERE u.username = :name"
    async with engine.connect() as conn:
        rows = await conn.execute(text(query), {"name": username})
        return Counter(rows.scalars())


async def signup(c: httpx.AsyncClient, username: str) -> None:
    r = await c.post(
        "/api/auth/signup",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    assert r.status_code == 201, r.text


async def test_sign_in_events(app: FastAPI, engine: AsyncEngine) -> None:
    async with client_for(app) as c, client_for(app) as other:
        await signup(c, "ada")
        assert await kinds(engine, "ada") == Counter({"signup": 1})

        r = await other.post("/api/auth/login", json={"login": "ada", "password": "wrong!!"})
        assert r.status_code == 401
        r = await other.post("/api/auth/login", json={"login": "ada", "password": PASSWORD})
        assert r.status_code == 200
        r = await other.post("/token", data={"username": "ada", "password": PASSWORD})
        refresh_token = r.json()["refresh_token"]
        assert (await other.post("/api/auth/refresh")).status_code == 200
        r = await other.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        assert r.status_code == 200
        assert (await other.post("/api/auth/logout")).status_code == 204
        assert await kinds(engine, "ada") == Counter(
            {"signup": 1, "login_failed": 1, "login_ok": 2, "refresh": 2, "logout": 1}
        )

        # Reusing a rotated-out refresh token after the grace window ends the session.
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE user_sessions SET rotated_at = now() - interval '1 hour'")
            )
        r = await other.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        assert r.status_code == 401
        assert (await kinds(engine, "ada"))["refresh_reuse_detected"] == 1

    async with engine.connect() as conn:
        failed = (
            await conn.execute(
                text("SELECT detail, ip FROM auth_events WHERE kind = 'login_failed'")
            )
        ).one()
    assert failed.detail == {"reason": "wrong_password"}
    assert failed.ip == "203.0.113.7"


async def test_unknown_and_disabled_logins_are_recorded_with_their_reason(
    app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await signup(client, "gone")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET is_active = false"))
    for login in ("gone", "nobody"):
        r = await client.post("/api/auth/login", json={"login": login, "password": PASSWORD})
        assert r.status_code == 401
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT detail->>'reason' AS reason, user_id IS NULL AS anonymous"
                    " FROM auth_events WHERE kind = 'login_failed' ORDER BY id"
                )
            )
        ).all()
    assert [(r.reason, r.anonymous) for r in rows] == [("disabled", False), ("unknown_user", True)]


async def test_account_and_email_events(
    mail_app: Any, smtp_server: SmtpServer, engine: AsyncEngine
) -> None:
    async with mail_app(smtp_server.port) as app, client_for(app) as c, client_for(app) as two:
        await signup(c, "bea")
        token = link_in(await smtp_server.mailbox.wait_for("bea@example.com"), "/verify-email")
        assert (await c.post("/api/auth/verify-email", json={"token": token})).status_code == 200
        assert (
            await two.post("/api/auth/login", json={"login": "bea", "password": PASSWORD})
        ).is_success
        sessions = (await c.get("/api/sessions")).json()
        other_id = next(s["id"] for s in sessions if not s["current"])
        assert (await c.delete(f"/api/sessions/{other_id}")).status_code == 204
        assert (await c.post("/api/sessions/revoke-others")).status_code == 200
        r = await c.post(
            "/api/auth/change-password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert r.status_code == 204
        r = await c.post(
            "/api/auth/change-email",
            json={"current_password": NEW_PASSWORD, "new_email": "bea2@example.com"},
        )
        assert r.status_code == 202
        token = link_in(
            await smtp_server.mailbox.wait_for("bea2@example.com"), "/confirm-email-change"
        )
        assert (await c.post("/api/auth/confirm-email-change", json={"token": token})).is_success
        assert (
            await c.post("/api/auth/forgot-password", json={"email": "bea2@example.com"})
        ).status_code == 202
        await app.state.deferred.drain()
        message = await smtp_server.mailbox.wait_for("bea2@example.com", subject="Reset")
        r = await c.post(
            "/api/auth/reset-password",
            json={"token": link_in(message, "/reset-password"), "password": PASSWORD},
        )
        assert r.status_code == 204
    assert await kinds(engine, "bea") == Counter(
        {
            "signup": 1,
            "email_verified": 1,
            "login_ok": 1,
            "session_revoked": 2,
            "password_changed": 1,
            "email_change_requested": 1,
            "email_changed": 1,
            "password_reset_requested": 1,
            "password_reset_done": 1,
        }
    )


async def test_throttled_attempts_are_recorded(make_app: Any, engine: AsyncEngine) -> None:
    app = make_app(login_free_failures_per_pair=1)
    async with app.router.lifespan_context(app), client_for(app) as c:
        for _ in range(2):
            await c.post("/api/auth/login", json={"login": "who", "password": "nope-nope"})
        assert (await kinds(engine))["throttled"] == 1
    async with engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT detail, ip FROM auth_events WHERE kind = 'throttled'"))
        ).one()
    assert (row.detail, row.ip) == ({"action": "login"}, "203.0.113.7")


async def test_users_see_only_their_own_activity_newest_first_in_pages(
    app: FastAPI, engine: AsyncEngine
) -> None:
    async with client_for(app) as mine, client_for(app) as theirs:
        await signup(mine, "mine")
        await signup(theirs, "them")
        for _ in range(3):
            r = await theirs.post("/api/auth/login", json={"login": "mine", "password": "bad one"})
            assert r.status_code == 401
        r = await mine.get("/api/me/activity", params={"limit": 2})
        assert r.status_code == 200
        page = r.json()
        assert [e["kind"] for e in page["events"]] == ["login_failed", "login_failed"]
        assert "detail" not in page["events"][0] and "reason" not in str(page)
        r = await mine.get("/api/me/activity", params={"before": page["next_before"]})
        rest = r.json()
        assert [e["kind"] for e in rest["events"]] == ["login_failed", "signup"]
        assert rest["events"][1]["this_session"] is True
        assert rest["next_before"] is None
        theirs_page = (await theirs.get("/api/me/activity")).json()
        assert [e["kind"] for e in theirs_page["events"]] == ["signup"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "x"},
        {"before": 0},
        {"before": 2**63},
        {"before": "x"},
    ],
)
async def test_bad_paging_is_422(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    await signup(client, "pager")
    r = await client.get("/api/me/activity", params=params)
    assert r.status_code == 422


async def test_activity_needs_sign_in(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/me/activity")).status_code == 401


async def test_events_cannot_be_changed_and_only_the_purge_deletes(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await signup(client, "fixed")
    for statement in ("UPDATE auth_events SET kind = 'x'", "DELETE FROM auth_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE auth_events DISABLE TRIGGER USER"))
        await conn.execute(text("UPDATE auth_events SET occurred_at = now() - interval '400 days'"))
        await conn.execute(text("ALTER TABLE auth_events ENABLE TRIGGER USER"))
    await signup(client, "recent")
    purged = await audit_service.purge(engine, older_than=timedelta(days=365), now=utc_now())
    assert purged == 1
    assert await kinds(engine) == Counter({"signup": 1})


async def test_the_purge_deletes_a_backlog_in_chunks(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for name in ("old1", "old2", "old3", "old4", "old5"):
        await signup(client, name)
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE auth_events DISABLE TRIGGER USER"))
        await conn.execute(text("UPDATE auth_events SET occurred_at = now() - interval '400 days'"))
        await conn.execute(text("ALTER TABLE auth_events ENABLE TRIGGER USER"))
    await signup(client, "recent")
    # Two per transaction: the full chunks, then the short one that ends the loop.
    purged = await audit_service.purge(
        engine, older_than=timedelta(days=365), now=utc_now(), chunk=2
    )
    assert purged == 5
    assert await kinds(engine) == Counter({"signup": 1})
    assert await audit_service.purge(engine, older_than=timedelta(days=365), now=utc_now()) == 0

"""/api/dev/mailbox: the outbox, readable in development only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.config import Environment, Settings
from authflow.main import create_app
from authflow.models import EmailOutbox
from tests.conftest import client_for

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
PATHS = ("/api/dev/mailbox", f"/api/dev/mailbox/{uuid.uuid4()}")


@pytest.fixture
def dev_client(make_app: Callable[..., FastAPI], engine: AsyncEngine) -> Callable[[], Any]:
    """A client of a running app built with AUTHFLOW_ENV=development."""

    @asynccontextmanager
    async def _client() -> AsyncIterator[httpx.AsyncClient]:
        app = make_app(env=Environment.development)
        async with app.router.lifespan_context(app), client_for(app) as c:
            yield c

    return _client


async def queue(
    engine: AsyncEngine,
    *,
    to: str,
    minutes: int,
    sent: bool = False,
    dead: bool = False,
    attempts: int = 0,
    last_error: str | None = None,
) -> uuid.UUID:
    """One outbox row, queued ``minutes`` after T0."""
    message_id = uuid.uuid4()
    created = T0 + timedelta(minutes=minutes)
    async with engine.begin() as conn:
        await conn.execute(
            insert(EmailOutbox).values(
                id=message_id,
                kind="verify_email",
                to_address=to,
                subject=f"Hello {to}",
                text_body=f"Open http://localhost:3000/verify-email?token=t{minutes} now.",
                html_body=f'<p><a href="http://localhost:3000/verify-email?token=t{minutes}">Go</a>',
                created_at=created,
                next_attempt_at=created,
                attempts=attempts,
                last_error=last_error,
                sent_at=created if sent else None,
                dead_at=created if dead else None,
            )
        )
    return message_id


class TestList:
    async def test_newest_first_with_status(self, dev_client: Any, engine: AsyncEngine) -> None:
        await queue(engine, to="old@example.com", minutes=0, sent=True, attempts=1)
        await queue(
            engine, to="dead@example.com", minutes=2, dead=True, attempts=8, last_error="boom"
        )
        await queue(engine, to="new@example.com", minutes=5)
        async with dev_client() as c:
            r = await c.get("/api/dev/mailbox")
        assert r.status_code == 200, r.text
        listed = r.json()
        assert [m["to_address"] for m in listed] == [
            "new@example.com",
            "dead@example.com",
            "old@example.com",
        ]
        assert [m["status"] for m in listed] == ["pending", "dead", "sent"]
        assert listed[1]["attempts"] == 8
        assert listed[1]["last_error"] == "boom"
        assert set(listed[0]) == {
            "id",
            "kind",
            "to_address",
            "subject",
            "created_at",
            "status",
            "attempts",
            "last_error",
        }
        assert datetime.fromisoformat(listed[0]["created_at"]) == T0 + timedelta(minutes=5)

    async def test_empty(self, dev_client: Any) -> None:
        async with dev_client() as c:
            r = await c.get("/api/dev/mailbox")
        assert r.status_code == 200
        assert r.json() == []

    async def test_limit_is_bounded(self, dev_client: Any, engine: AsyncEngine) -> None:
        for minute in range(3):
            await queue(engine, to=f"u{minute}@example.com", minutes=minute)
        async with dev_client() as c:
            r = await c.get("/api/dev/mailbox", params={"limit": 2})
            assert [m["to_address"] for m in r.json()] == ["u2@example.com", "u1@example.com"]
            assert len((await c.get("/api/dev/mailbox", params={"limit": 200})).json()) == 3
            for bad in ("0", "-1", "201", "99999999999999999999", "ten", "1.5", ""):
                r = await c.get("/api/dev/mailbox", params={"limit": bad})
                assert r.status_code == 422, bad
                assert r.json()["code"] == "VALIDATION_ERROR"
                assert r.json()["errors"][0]["field"] == "limit"

    async def test_default_limit_is_50(self, dev_client: Any, engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                insert(EmailOutbox),
                [
                    {
                        "kind": "verify_email",
                        "to_address": f"bulk{i}@example.com",
                        "subject": "s",
                        "text_body": "t",
                        "html_body": "h",
                        "created_at": T0 + timedelta(seconds=i),
                        "next_attempt_at": T0,
                    }
                    for i in range(60)
                ],
            )
        async with dev_client() as c:
            listed = (await c.get("/api/dev/mailbox")).json()
        assert len(listed) == 50
        assert listed[0]["to_address"] == "bulk59@example.com"


class TestDetail:
    async def test_one_message_with_both_parts(self, dev_client: Any, engine: AsyncEngine) -> None:
        message_id = await queue(engine, to="one@example.com", minutes=1, sent=True, attempts=1)
        async with dev_client() as c:
            r = await c.get(f"/api/dev/mailbox/{message_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == str(message_id)
        assert body["to_address"] == "one@example.com"
        assert body["status"] == "sent"
        assert body["text_body"] == "Open http://localhost:3000/verify-email?token=t1 now."
        assert body["html_body"].startswith("<p><a href=")

    async def test_unknown_id_is_404(self, dev_client: Any) -> None:
        async with dev_client() as c:
            r = await c.get(f"/api/dev/mailbox/{uuid.uuid4()}")
        assert r.status_code == 404
        assert r.json() == {
            "code": "OUTBOX_MESSAGE_NOT_FOUND",
            "detail": "No such message in the outbox",
        }

    async def test_malformed_id_is_422(self, dev_client: Any) -> None:
        async with dev_client() as c:
            for bad in ("nope", "1", "x" * 5000, "%00", "00000000-0000-0000-0000-00000000000g"):
                r = await c.get(f"/api/dev/mailbox/{bad}")
                assert r.status_code == 422, bad
                assert r.json()["code"] == "VALIDATION_ERROR"

    async def test_a_real_sign_up_shows_up_with_its_link(self, dev_client: Any) -> None:
        async with dev_client() as c:
            r = await c.post(
                "/api/auth/signup",
                json={"username": "dora", "email": "dora@example.com", "password": PASSWORD},
            )
            assert r.status_code == 201, r.text
            listed = (await c.get("/api/dev/mailbox")).json()
            assert [(m["kind"], m["to_address"]) for m in listed] == [
                ("verify_email", "dora@example.com")
            ]
            message = (await c.get(f"/api/dev/mailbox/{listed[0]['id']}")).json()
        assert "http://localhost:3000/verify-email?token=" in message["text_body"]
        assert "http://localhost:3000/verify-email?token=" in message["html_body"]


class TestOnlyInDevelopment:
    @pytest.fixture(params=["test", "production"])
    def other_app(self, request: pytest.FixtureRequest, settings: Settings) -> FastAPI:
        """The shared tests' settings (env=test), or settings that pass production's checks."""
        if request.param == "test":
            return create_app(settings)
        return create_app(
            Settings(
                env="production",
                database_url=settings.database_url,
                secret_key="s" * 40,
                web_origin="https://app.example.com",
                keys_dir=settings.keys_dir,
            )
        )

    async def test_absent_outside_development(self, other_app: FastAPI) -> None:
        assert not other_app.state.settings.is_dev
        async with client_for(other_app) as c:
            unknown = await c.get("/api/no-such-thing")
            assert unknown.status_code == 404
            assert unknown.json()["code"] == "NOT_FOUND"
            for path in (*PATHS, "/api/dev/mailbox/nope", "/api/dev/mailbox?limit=0"):
                r = await c.get(path)
                assert r.status_code == 404, path
                assert r.json() == unknown.json()
            schema = (await c.get("/openapi.json")).json()
        assert schema["paths"]
        assert not [p for p in schema["paths"] if p.startswith("/api/dev")]

    async def test_absent_when_development_is_only_the_default(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("AUTHFLOW_ENV", raising=False)
        defaulted = Settings(database_url=settings.database_url, keys_dir=settings.keys_dir)
        assert defaulted.is_dev
        async with client_for(create_app(defaulted)) as c:
            for path in PATHS:
                assert (await c.get(path)).status_code == 404, path
            schema = (await c.get("/openapi.json")).json()
        assert not [p for p in schema["paths"] if p.startswith("/api/dev")]

    async def test_listed_in_the_schema_in_development(
        self, make_app: Callable[..., FastAPI]
    ) -> None:
        async with client_for(make_app(env=Environment.development)) as c:
            schema = (await c.get("/openapi.json")).json()
        assert {"/api/dev/mailbox", "/api/dev/mailbox/{message_id}"} <= set(schema["paths"])

"""The outbox worker: SMTP outages lose nothing, no message goes out twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow import devdb
from authflow.db import create_engine
from authflow.email.backends import backend_for
from authflow.email.worker import OutboxWorker, backoff
from tests.conftest import client_for
from tests.email.conftest import SmtpServer, smtp_settings

PASSWORD = "correct horse battery staple"


async def outbox(engine: AsyncEngine) -> list[tuple[int, bool, bool]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT attempts, sent_at IS NOT NULL, dead_at IS NOT NULL FROM email_outbox"
                " ORDER BY created_at"
            )
        )
        return [(r[0], r[1], r[2]) for r in rows]


async def test_smtp_down_changes_no_response_and_loses_nothing(
    mail_app: Any, engine: AsyncEngine
) -> None:
    server = SmtpServer(port=devdb.free_port())
    async with mail_app(server.port) as app, client_for(app) as c:
        for i in range(5):
            r = await c.post(
                "/api/auth/signup",
                json={
                    "username": f"down{i}",
                    "email": f"down{i}@example.com",
                    "password": PASSWORD,
                },
            )
            assert r.status_code == 201, r.text
        # The worker keeps failing to connect; everything waits in the table.
        await eventually(engine, lambda rows: all(attempts >= 2 for attempts, _, _ in rows))
        assert not any(sent for _, sent, _ in await outbox(engine))

        server.start()
        try:
            for i in range(5):
                await server.mailbox.wait_for(f"down{i}@example.com")
            await asyncio.sleep(0.3)  # time for any duplicate to show up
            assert len(server.mailbox.messages) == 5
            assert all(sent for _, sent, _ in await outbox(engine))
        finally:
            server.stop()


async def test_two_workers_never_send_a_message_twice(
    mail_app: Any, smtp_server: SmtpServer, settings: Any, engine: AsyncEngine
) -> None:
    # Queued by an app that sends nothing itself.
    async with mail_app(smtp_server.port, outbox_worker=False) as app, client_for(app) as c:
        for i in range(10):
            r = await c.post(
                "/api/auth/signup",
                json={"username": f"two{i}", "email": f"two{i}@example.com", "password": PASSWORD},
            )
            assert r.status_code == 201
    # Both workers start on a full outbox at the same moment.
    mailed = settings.model_copy(update=smtp_settings(smtp_server.port))
    engines = [create_engine(mailed) for _ in range(2)]
    try:
        workers = [OutboxWorker(e, backend_for(mailed), mailed) for e in engines]
        assert len(await outbox(engine)) == 10
        counts = await asyncio.gather(*(w.deliver_due() for w in workers))
    finally:
        await asyncio.gather(*(e.dispose() for e in engines))
    assert sum(counts) == 10
    assert len(smtp_server.mailbox.messages) == 10
    assert len({m["To"] for m in smtp_server.mailbox.messages}) == 10


async def test_a_message_is_given_up_after_the_configured_attempts(
    mail_app: Any, settings: Any, engine: AsyncEngine
) -> None:
    closed_port = devdb.free_port()
    async with mail_app(closed_port, outbox_max_attempts=3) as app, client_for(app) as c:
        r = await c.post(
            "/api/auth/signup",
            json={"username": "dead", "email": "dead@example.com", "password": PASSWORD},
        )
        assert r.status_code == 201
        await eventually(engine, lambda rows: rows[0][2])
        await asyncio.sleep(0.3)
        assert await outbox(engine) == [(3, False, True)]


async def eventually(engine: AsyncEngine, check: Callable[[list[Any]], bool]) -> None:
    for _ in range(200):
        if check(await outbox(engine)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(await outbox(engine))


def test_backoff_doubles_up_to_an_hour(settings: Any) -> None:
    s = settings.model_copy(update={"outbox_backoff_base_seconds": 5.0})
    assert [backoff(s, n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff(s, 50).total_seconds() == 3600

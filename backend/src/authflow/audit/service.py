"""The audit trail: what happened to whose account, when, from where.

Events that record a change are written in the change's own transaction, so they exist
exactly when the change does. Events about refusals (a failed sign-in, a reused refresh
token, a throttled attempt) are written on their own autocommit connection, because the
request's transaction is rolled back with the refusal.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from authflow.db import delete_in_chunks
from authflow.kit.client import ClientInfo
from authflow.kit.clock import utc_now
from authflow.models import AuthEvent

_events = cast(Table, AuthEvent.__table__)


class EventKind(StrEnum):
    signup = "signup"
    login_ok = "login_ok"
    login_failed = "login_failed"
    logout = "logout"
    refresh = "refresh"
    refresh_reuse_detected = "refresh_reuse_detected"
    session_revoked = "session_revoked"
    password_changed = "password_changed"
    password_reset_requested = "password_reset_requested"
    password_reset_done = "password_reset_done"
    email_verified = "email_verified"
    email_change_requested = "email_change_requested"
    email_changed = "email_changed"
    throttled = "throttled"
    step_up = "step_up"
    two_factor_enabled = "two_factor_enabled"
    two_factor_disabled = "two_factor_disabled"
    two_factor_failed = "two_factor_failed"
    recovery_code_used = "recovery_code_used"
    recovery_codes_regenerated = "recovery_codes_regenerated"
    admin_user_disabled = "admin_user_disabled"
    admin_user_enabled = "admin_user_enabled"
    admin_email_verified = "admin_email_verified"
    admin_password_reset_sent = "admin_password_reset_sent"
    admin_sessions_revoked = "admin_sessions_revoked"
    admin_user_deleted = "admin_user_deleted"
    admin_role_granted = "admin_role_granted"
    admin_role_revoked = "admin_role_revoked"


def _row(
    kind: EventKind,
    *,
    user_id: uuid.UUID | None,
    session_id: uuid.UUID | None,
    client: ClientInfo | None,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "occurred_at": utc_now(),
        "kind": kind.value,
        "user_id": user_id,
        "session_id": session_id,
        "ip": client.ip if client else None,
        "user_agent": client.user_agent if client else None,
        "detail": detail,
    }


async def record(
    target: AsyncSession | AsyncConnection,
    kind: EventKind,
    *,
    user_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    client: ClientInfo | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write an event in ``target``'s transaction."""
    row = _row(kind, user_id=user_id, session_id=session_id, client=client, detail=detail)
    await target.execute(insert(_events).values(**row))


async def record_standalone(
    engine: AsyncEngine,
    kind: EventKind,
    *,
    user_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    client: ClientInfo | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write an event that must stand whatever happens to the request's transaction.
    ``engine`` should be the autocommit one."""
    async with engine.connect() as conn:
        await record(
            conn, kind, user_id=user_id, session_id=session_id, client=client, detail=detail
        )


async def for_user(
    session: AsyncSession, *, user_id: uuid.UUID, before: int | None, limit: int
) -> list[AuthEvent]:
    """A user's own events, newest first; ``before`` is the id to continue after."""
    query = select(AuthEvent).where(AuthEvent.user_id == user_id)
    if before is not None:
        query = query.where(AuthEvent.id < before)
    rows = await session.execute(query.order_by(AuthEvent.id.desc()).limit(limit))
    return list(rows.scalars())


# Events deleted per transaction: a backlog (a first purge, a lowered retention) goes in
# short statements that each finish well inside AUTHFLOW_DB_COMMAND_TIMEOUT_SECONDS.
PURGE_CHUNK_ROWS = 10_000


async def purge(
    engine: AsyncEngine, *, older_than: timedelta, now: datetime, chunk: int = PURGE_CHUNK_ROWS
) -> int:
    """Delete events past retention: the only DELETE the table's trigger lets through."""
    return await delete_in_chunks(
        engine,
        _events,
        _events.c.occurred_at < now - older_than,
        chunk=chunk,
        setup=[text("SET LOCAL authflow.audit_purge = 'on'")],
    )

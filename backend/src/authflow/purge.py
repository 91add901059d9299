"""Deleting rows that have served their purpose (``authflow purge``).

What goes, and when:

- sessions 30 days after they ended (signed out, revoked, expired or idle past
  AUTHFLOW_SESSION_IDLE_TIMEOUT_HOURS): for that month the audit trail's session ids
  still lead to the device and address;
- spent refresh tokens as soon as their session has ended: they only exist to recognise
  a copied token, and an ended session accepts none anyway;
- email links 7 days after they expired or were used, so a late click still hears
  "expired" or "already used" rather than "invalid";
- two-factor challenges once expired or used (sign-in never looks at them again);
- throttle counters once expired (the API also does this every few minutes);
- sent email 7 days after it went (the outbox holds links and addresses), email the
  worker gave up on 30 days after, so there is time to find out why;
- devices not signed in from for a year: signing in from one again sends the
  new-device notice, as it should after so long;
- audit events older than AUTHFLOW_AUDIT_RETENTION_DAYS (the API does this hourly).

Rows are deleted in chunks, each in its own short transaction, so a large backlog never
holds locks for long; every chunk re-checks the condition on the rows it deletes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import cast

from sqlalchemy import ColumnElement, Table, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.audit import service as audit_service
from authflow.config import Settings
from authflow.db import delete_in_chunks
from authflow.models import (
    AuthEvent,
    EmailOutbox,
    EmailToken,
    SpentRefreshToken,
    ThrottleCounter,
    TwoFactorChallenge,
    UserDevice,
    UserSession,
)

SESSION_GRACE = timedelta(days=30)
EMAIL_TOKEN_GRACE = timedelta(days=7)
SENT_EMAIL_KEPT = timedelta(days=7)
DEAD_EMAIL_KEPT = timedelta(days=30)
DEVICE_UNUSED = timedelta(days=365)
CHUNK_ROWS = 5000

_sessions = cast(Table, UserSession.__table__)
_spent = cast(Table, SpentRefreshToken.__table__)
_email_tokens = cast(Table, EmailToken.__table__)
_challenges = cast(Table, TwoFactorChallenge.__table__)
_counters = cast(Table, ThrottleCounter.__table__)
_outbox = cast(Table, EmailOutbox.__table__)
_devices = cast(Table, UserDevice.__table__)
_events = cast(Table, AuthEvent.__table__)


@dataclass(frozen=True)
class Target:
    table: Table
    condition: ColumnElement[bool]
    what: str


def _ended_before(cutoff: datetime, settings: Settings) -> ColumnElement[bool]:
    """Sessions that ended (any way) before ``cutoff``."""
    idle = timedelta(hours=settings.session_idle_timeout_hours)
    return or_(
        _sessions.c.revoked_at < cutoff,
        _sessions.c.expires_at < cutoff,
        _sessions.c.last_seen_at < cutoff - idle,
    )


def targets(settings: Settings, now: datetime) -> list[Target]:
    """What to delete, in order (spent tokens before the sessions they belong to)."""
    email_cutoff = now - EMAIL_TOKEN_GRACE
    return [
        Target(
            _spent,
            _spent.c.session_id.in_(select(_sessions.c.id).where(_ended_before(now, settings))),
            "of sessions that have ended",
        ),
        Target(
            _sessions,
            _ended_before(now - SESSION_GRACE, settings),
            f"ended more than {SESSION_GRACE.days} days ago",
        ),
        Target(
            _email_tokens,
            or_(_email_tokens.c.expires_at < email_cutoff, _email_tokens.c.used_at < email_cutoff),
            f"expired or used more than {EMAIL_TOKEN_GRACE.days} days ago",
        ),
        Target(
            _challenges,
            or_(_challenges.c.expires_at <= now, _challenges.c.used_at.is_not(None)),
            "expired or used",
        ),
        Target(_counters, _counters.c.expires_at <= now, "expired"),
        Target(
            _outbox,
            or_(
                _outbox.c.sent_at < now - SENT_EMAIL_KEPT,
                _outbox.c.dead_at < now - DEAD_EMAIL_KEPT,
            ),
            f"sent more than {SENT_EMAIL_KEPT.days} days ago, "
            f"or given up on more than {DEAD_EMAIL_KEPT.days} days ago",
        ),
        Target(
            _devices,
            _devices.c.last_seen_at < now - DEVICE_UNUSED,
            f"not signed in from for {DEVICE_UNUSED.days} days",
        ),
    ]


@dataclass(frozen=True)
class Purged:
    table: str
    rows: int
    what: str


async def _count(engine: AsyncEngine, target: Target) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(target.table).where(target.condition)
        return int((await conn.execute(query)).scalar_one())


async def purge(
    engine: AsyncEngine,
    *,
    settings: Settings,
    now: datetime,
    dry_run: bool,
    progress: Callable[[str, int], None] = lambda _table, _rows: None,
) -> list[Purged]:
    """Delete (or with ``dry_run`` count) what the module docstring lists."""
    done = []
    for target in targets(settings, now):
        if dry_run:
            rows = await _count(engine, target)
        else:
            rows = await delete_in_chunks(
                engine,
                target.table,
                target.condition,
                chunk=CHUNK_ROWS,
                progress=partial(progress, target.table.name),
            )
        done.append(Purged(target.table.name, rows, target.what))
    retention = timedelta(days=settings.audit_retention_days)
    if dry_run:
        old_events = Target(_events, _events.c.occurred_at < now - retention, "")
        rows = await _count(engine, old_events)
    else:
        rows = await audit_service.purge(engine, older_than=retention, now=now)
    done.append(
        Purged(
            _events.name,
            rows,
            f"older than {settings.audit_retention_days} days (AUTHFLOW_AUDIT_RETENTION_DAYS)",
        )
    )
    return done

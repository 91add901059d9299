"""What administrators (and the ``authflow`` command) can do to accounts. Every change is
recorded in the audit trail against the account it touched, naming who did it."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Table,
    delete,
    exists,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from authflow.account import service as account_service
from authflow.audit import service as audit
from authflow.audit.service import EventKind
from authflow.config import Settings
from authflow.email.service import Purpose, seconds_until_allowed, too_soon
from authflow.errors import AppError, ErrorCode, FieldError
from authflow.kit.client import ClientInfo
from authflow.kit.passwords import PasswordHasher
from authflow.kit.text import identifier_key
from authflow.models import AuthEvent, TotpCredential, User, UserSession
from authflow.user.service import require_acceptable_password
from authflow.user_session.service import user_session as user_session_service

_users = cast(Table, User.__table__)
_sessions = cast(Table, UserSession.__table__)
_events = cast(Table, AuthEvent.__table__)
_totp = cast(Table, TotpCredential.__table__)

# Taken before counting admins, so two admins demoting each other at once cannot both
# succeed and leave none.
ADMINS_LOCK = "SELECT pg_advisory_xact_lock(hashtext('authflow:admins'))"


@dataclass(frozen=True)
class Actor:
    """Who made a change: an admin's session, or the command line (no id)."""

    id: uuid.UUID | None
    username: str
    session_id: uuid.UUID | None = None

    def detail(self) -> dict[str, str | None]:
        return {"actor_id": str(self.id) if self.id else None, "actor_username": self.username}


COMMAND_LINE = Actor(id=None, username="authflow (command line)")


def user_not_found() -> AppError:
    return AppError(ErrorCode.USER_NOT_FOUND, "No such user", 404)


def last_admin() -> AppError:
    return AppError(
        ErrorCode.LAST_ADMIN,
        "This is the last active administrator; make another one first.",
        409,
    )


async def _locked(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise user_not_found()
    return user


async def _record(
    session: AsyncSession,
    kind: EventKind,
    user_id: uuid.UUID,
    actor: Actor,
    client: ClientInfo | None,
    **extra: Any,
) -> None:
    await audit.record(
        session,
        kind,
        user_id=user_id,
        session_id=actor.session_id,
        client=client,
        detail={**actor.detail(), **extra},
    )


async def _ensure_not_last_admin(session: AsyncSession, user: User) -> None:
    """Refuse a change that would leave no active admin, if ``user`` is one now."""
    if not (user.is_superuser and user.is_active):
        return
    await session.execute(text(ADMINS_LOCK))
    others = (
        await session.execute(
            select(func.count())
            .select_from(_users)
            .where(
                _users.c.is_superuser.is_(True),
                _users.c.is_active.is_(True),
                _users.c.id != user.id,
            )
        )
    ).scalar_one()
    if others == 0:
        raise last_admin()


# Changes


async def set_active(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    active: bool,
    actor: Actor,
    client: ClientInfo | None,
) -> User:
    """Disable (every session ends at once) or enable an account."""
    user = await _locked(session, user_id)
    if not active:
        await _ensure_not_last_admin(session, user)
        await user_session_service.revoke_all(session, user_id=user.id, reason="account_disabled")
    if user.is_active != active:
        user.is_active = active
        kind = EventKind.admin_user_enabled if active else EventKind.admin_user_disabled
        await _record(session, kind, user.id, actor, client)
    return user


async def set_admin(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    admin: bool,
    actor: Actor,
    client: ClientInfo | None,
) -> User:
    user = await _locked(session, user_id)
    if not admin:
        await _ensure_not_last_admin(session, user)
    if user.is_superuser != admin:
        user.is_superuser = admin
        kind = EventKind.admin_role_granted if admin else EventKind.admin_role_revoked
        await _record(session, kind, user.id, actor, client)
    return user


def _no_address() -> AppError:
    return AppError(ErrorCode.NO_EMAIL_ADDRESS, "This account has no email address.", 409)


async def mark_verified(
    session: AsyncSession, *, user_id: uuid.UUID, actor: Actor, client: ClientInfo | None
) -> None:
    user = await _locked(session, user_id)
    if user.email is None:
        raise _no_address()
    if user.is_verified:
        raise AppError(ErrorCode.EMAIL_ALREADY_VERIFIED, "This address is already confirmed.", 409)
    user.is_verified = True
    await _record(session, EventKind.admin_email_verified, user.id, actor, client)


async def send_password_reset(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    actor: Actor,
    client: ClientInfo | None,
    settings: Settings,
) -> None:
    """Email the account a reset link, as if its owner had asked (same interval)."""
    user = await _locked(session, user_id)
    if user.email is None:
        raise _no_address()
    wait = await seconds_until_allowed(
        session, user_id=user.id, purpose=Purpose.reset_password, settings=settings
    )
    if wait:
        raise too_soon(wait)
    await account_service.send_reset_link(session, user=user, settings=settings)
    await _record(session, EventKind.admin_password_reset_sent, user.id, actor, client)


async def revoke_sessions(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    actor: Actor,
    client: ClientInfo | None,
) -> int:
    """End one session of the account (``session_id``) or all of them."""
    user = await _locked(session, user_id)
    conditions: list[ColumnElement[bool]] = [
        _sessions.c.user_id == user.id,
        _sessions.c.revoked_at.is_(None),
    ]
    if session_id is not None:
        conditions.append(_sessions.c.id == session_id)
    ended = await session.execute(
        update(_sessions)
        .where(*conditions)
        .values(revoked_at=func.now(), revoked_reason="admin")
        .returning(_sessions.c.id)
    )
    count = len(ended.all())
    if session_id is not None and count == 0:
        raise AppError(ErrorCode.SESSION_NOT_FOUND, "No such live session", 404)
    await _record(
        session,
        EventKind.admin_sessions_revoked,
        user.id,
        actor,
        client,
        revoked=str(session_id) if session_id else "all",
        count=count,
    )
    return count


async def delete_user(
    session: AsyncSession, *, user_id: uuid.UUID, actor: Actor, client: ClientInfo | None
) -> None:
    """Delete the account; its sessions, notes, tokens and two-factor go with it (foreign
    keys cascade). Its audit events stay: they have no foreign key, on purpose."""
    user = await _locked(session, user_id)
    await _ensure_not_last_admin(session, user)
    await _record(
        session,
        EventKind.admin_user_deleted,
        user.id,
        actor,
        client,
        username=user.username,
        email=user.email,
    )
    await session.execute(delete(_users).where(_users.c.id == user.id))


async def set_password(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    password: str,
    hasher: PasswordHasher,
    settings: Settings,
    actor: Actor,
    client: ClientInfo | None,
) -> None:
    """Set a new password (the policy applies); every session of the account ends."""
    user = await _locked(session, user_id)
    require_acceptable_password(
        password, settings=settings, username=user.username, email=user.email
    )
    await account_service.set_password(
        session, user, await hasher.hash(password), settings=settings
    )
    await user_session_service.revoke_all(session, user_id=user.id, reason="password_changed")
    await _record(session, EventKind.password_changed, user.id, actor, client)


# Reading


class UserSort(StrEnum):
    created_at = "created_at"
    username = "username"


class Order(StrEnum):
    asc = "asc"
    desc = "desc"


@dataclass(frozen=True)
class UserFilters:
    q: str | None = None
    active: bool | None = None
    verified: bool | None = None
    admin: bool | None = None
    two_factor: bool | None = None


_TWO_FACTOR = (
    exists()
    .where(_totp.c.user_id == _users.c.id, _totp.c.confirmed_at.is_not(None))
    .correlate(_users)
)


def _user_query() -> Any:
    return select(
        _users.c.id,
        _users.c.username,
        _users.c.email,
        _users.c.full_name,
        _users.c.is_active,
        _users.c.is_verified,
        _users.c.is_superuser.label("is_admin"),
        _users.c.created_at,
        _users.c.last_login_at,
        _users.c.username_key,
        _TWO_FACTOR.label("two_factor_enabled"),
    )


def invalid_cursor() -> AppError:
    return AppError(
        ErrorCode.VALIDATION_ERROR,
        "cursor: not one this listing handed out",
        422,
        errors=[FieldError(field="cursor", message="Invalid cursor", code="invalid")],
    )


def _encode_cursor(sort: UserSort, row: Any) -> str:
    value = row.created_at.isoformat() if sort is UserSort.created_at else row.username_key
    raw = json.dumps([sort.value, value, str(row.id)]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(sort: UserSort, cursor: str) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, value, row_id = json.loads(raw)
        if kind != sort.value or not isinstance(value, str):
            raise ValueError(kind)
        key: Any = datetime.fromisoformat(value) if sort is UserSort.created_at else value
        return key, uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise invalid_cursor() from None


async def list_users(
    session: AsyncSession,
    *,
    filters: UserFilters,
    sort: UserSort,
    order: Order,
    limit: int,
    cursor: str | None,
) -> tuple[list[Row[Any]], str | None]:
    """One page of accounts, in a stable order (the sort key, then id), continued by a
    keyset cursor rather than an offset: deep pages cost what the first does, and
    accounts created meanwhile neither repeat nor skip rows."""
    key_column = _users.c.created_at if sort is UserSort.created_at else _users.c.username_key
    query = _user_query()
    if filters.q:
        # Prefix search on the normalised keys, case-insensitive the way sign-in compares
        # names. Written as an explicit range in text_pattern_ops' operators rather than
        # LIKE 'q%': a LIKE pattern becomes an index range only in a plan made for its
        # value, and PostgreSQL may switch a prepared statement to one generic plan.
        prefix = identifier_key(filters.q)
        # Even as a range, a plan made without the value (PostgreSQL's generic plan for a
        # prepared statement, which asyncpg uses) cannot tell a narrow prefix from a wide
        # one and walks every account in created_at order instead (46 ms against 0.1 ms
        # at 100,000 users, see docs/performance-admin.md): plan this query for its values.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        query = query.where(
            _prefix_range(_users.c.username_key, prefix) | _prefix_range(_users.c.email_key, prefix)
        )
    for column, wanted in (
        (_users.c.is_active, filters.active),
        (_users.c.is_verified, filters.verified),
        (_users.c.is_superuser, filters.admin),
    ):
        if wanted is not None:
            query = query.where(column.is_(wanted))
    if filters.two_factor is not None:
        query = query.where(_TWO_FACTOR if filters.two_factor else ~_TWO_FACTOR)
    if cursor:
        value, row_id = _decode_cursor(sort, cursor)
        position = tuple_(key_column, _users.c.id)
        query = query.where(
            position > tuple_(value, row_id)
            if order is Order.asc
            else position < tuple_(value, row_id)
        )
    if order is Order.asc:
        query = query.order_by(key_column.asc(), _users.c.id.asc())
    else:
        query = query.order_by(key_column.desc(), _users.c.id.desc())
    rows = (await session.execute(query.limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(sort, rows[-1]) if more and rows else None
    return list(rows), next_cursor


def _after_prefix(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (UTF-8 byte
    order, which is code point order), or None when there is none."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if 0xD800 <= last <= 0xDFFF:
            last = 0xE000  # surrogates are not characters
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


def _prefix_range(column: Any, prefix: str) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = column.op("~>=~", is_comparison=True)(prefix)
    upper = _after_prefix(prefix)
    if upper is not None:
        condition = condition & column.op("~<~", is_comparison=True)(upper)
    return condition


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> Row[Any]:
    """The account as the admin lists show it (AdminUserRow's fields)."""
    row = (await session.execute(_user_query().where(_users.c.id == user_id))).one_or_none()
    if row is None:
        raise user_not_found()
    return row


ID_TIME_MARGIN = timedelta(minutes=5)


def _utc(moment: datetime, shift: timedelta = timedelta(0)) -> datetime:
    """``moment + shift`` in UTC, held to the years a datetime can represent: a time in
    year 1 or 9999 goes past them once moved by its offset or the margin (and the
    driver sends every time in UTC)."""
    try:
        return (moment + shift).astimezone(UTC)
    except OverflowError:
        return (datetime.min if moment.year == datetime.min.year else datetime.max).replace(
            tzinfo=UTC
        )


@dataclass(frozen=True)
class EventFilters:
    user_id: uuid.UUID | None = None
    kind: str | None = None
    ip: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def search_events(
    session: AsyncSession, *, filters: EventFilters, limit: int, before: int | None
) -> tuple[list[Any], int | None]:
    """Audit events newest first, paged by id, with the account's current username."""
    query = select(
        _events.c.id,
        _events.c.occurred_at,
        _events.c.kind,
        _events.c.user_id,
        _users.c.username,
        _events.c.session_id,
        _events.c.ip,
        _events.c.user_agent,
        _events.c.detail,
    ).select_from(_events.outerjoin(_users, _users.c.id == _events.c.user_id))
    if filters.user_id is not None:
        query = query.where(_events.c.user_id == filters.user_id)
    if filters.kind:
        query = query.where(_events.c.kind == filters.kind)
    if filters.ip:
        query = query.where(_events.c.ip == filters.ip)
    # A time window is also turned into id bounds: ids grow with time, and walking the
    # primary key newest first while filtering on time would read every newer event
    # before the first match. The margin covers ids and times that disagree (the moment
    # an event is stamped vs inserted, clocks of different API hosts).
    if filters.since is not None:
        query = query.where(
            _events.c.occurred_at >= _utc(filters.since),
            _events.c.id
            > func.coalesce(
                select(_events.c.id)
                .where(_events.c.occurred_at < _utc(filters.since, -ID_TIME_MARGIN))
                .order_by(_events.c.occurred_at.desc())
                .limit(1)
                .scalar_subquery(),
                0,
            ),
        )
    if filters.until is not None:
        query = query.where(
            _events.c.occurred_at < _utc(filters.until),
            _events.c.id
            < func.coalesce(
                select(_events.c.id)
                .where(_events.c.occurred_at >= _utc(filters.until, ID_TIME_MARGIN))
                .order_by(_events.c.occurred_at.asc())
                .limit(1)
                .scalar_subquery(),
                2**63 - 1,
            ),
        )
    if before is not None:
        query = query.where(_events.c.id < before)
    rows = (await session.execute(query.order_by(_events.c.id.desc()).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return list(rows), rows[-1].id if more and rows else None

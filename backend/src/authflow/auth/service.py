"""Signing in and out: credential checks, sessions and access tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from authflow.audit import service as audit
from authflow.audit.service import EventKind
from authflow.config import Settings
from authflow.errors import DRIVER_CONNECTION_ERRORS, AppError, ErrorCode
from authflow.kit.client import ClientInfo as ClientInfo  # re-exported for callers
from authflow.kit.clock import utc_now
from authflow.kit.jwt import InvalidToken, KeyRing
from authflow.kit.passwords import PasswordHasher
from authflow.kit.tokens import csrf_token, derive_token, new_token, token_hash
from authflow.models import SpentRefreshToken, User, UserSession
from authflow.user.service import user as user_service

BAD_CREDENTIALS_DETAIL = "Incorrect username or password"
# Seen-at is refreshed at most this often, so reading /users/me is not a write each time.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)


REFRESH_DERIVATION_LABEL = "refresh-token-successor"
CSRF_DERIVATION_LABEL = "csrf"


def csrf_for(keys: KeyRing, session_id: uuid.UUID) -> str:
    return csrf_token(keys.derivation_key(CSRF_DERIVATION_LABEL), session_id)


def csrf_refused() -> AppError:
    return AppError(
        ErrorCode.CSRF_TOKEN_INVALID,
        "Missing or wrong X-CSRF-Token header",
        403,
    )


def invalid_refresh() -> AppError:
    # One answer for unknown, expired, revoked and reused tokens.
    exc = AppError(
        ErrorCode.INVALID_REFRESH_TOKEN,
        "Invalid or expired refresh token",
        401,
        headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"},
    )
    exc.extra = {"error": "invalid_grant", "error_description": exc.detail}
    return exc


class BadCredentials(AppError):
    """One answer for unknown user, wrong password and disabled user: nothing to
    enumerate. Which it was, and whose account, stays on the server (audit trail)."""

    def __init__(self, *, reason: str, user_id: uuid.UUID | None) -> None:
        super().__init__(
            ErrorCode.LOGIN_BAD_CREDENTIALS,
            BAD_CREDENTIALS_DETAIL,
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        self.reason = reason
        self.user_id = user_id


_users = cast(Table, User.__table__)
_sessions = cast(Table, UserSession.__table__)

# Every authenticated request runs this, so it is built once, in Core: the ORM's entity
# loading would cost more CPU than the query itself.
_LIVE_SESSION = (
    select(
        _users.c.id,
        _users.c.username,
        _users.c.email,
        _users.c.full_name,
        _users.c.is_active,
        _users.c.is_verified,
        _users.c.is_superuser,
        _users.c.created_at,
        _sessions.c.last_seen_at,
        _sessions.c.authenticated_at,
    )
    .select_from(_sessions.join(_users, _users.c.id == _sessions.c.user_id))
    .where(
        _sessions.c.id == bindparam("session_id"),
        _sessions.c.user_id == bindparam("user_id"),
        _sessions.c.revoked_at.is_(None),
        _sessions.c.expires_at > bindparam("now"),
        _users.c.is_active.is_(True),
    )
)


# Compiled once to the driver's own SQL: the lookup runs on every authenticated request,
# and handing asyncpg a prepared-statement string skips SQLAlchemy's per-execution work
# (cache-key generation, parameter and result processing). Still one statement, written
# with SQLAlchemy, with bound parameters only.
_LIVE_SESSION_COMPILED = _LIVE_SESSION.compile(
    dialect=postgresql_asyncpg.dialect()  # type: ignore[no-untyped-call]
)
_LIVE_SESSION_SQL = str(_LIVE_SESSION_COMPILED)
_LIVE_SESSION_PARAM_ORDER = tuple(_LIVE_SESSION_COMPILED.positiontup or ())


@dataclass(frozen=True, slots=True)
class AuthUser:
    """Who is calling, as of this request: a read-only snapshot, not an ORM object. Code
    that changes the user loads it in the request's transaction."""

    id: uuid.UUID
    username: str
    email: str | None
    full_name: str | None
    is_active: bool
    is_verified: bool
    is_superuser: bool
    created_at: datetime
    session_id: uuid.UUID
    # When this session last proved who it is (see UserSession.authenticated_at).
    authenticated_at: datetime | None = None

    @property
    def disabled(self) -> bool:
        return not self.is_active


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    user_id: uuid.UUID
    session_id: uuid.UUID
    refresh_token: str
    # Seconds the refresh cookie should live; None for a browser-session cookie.
    refresh_max_age: int | None


class AuthService:
    async def authenticate(
        self,
        session: AsyncSession,
        *,
        lookup: AsyncEngine,
        login: str,
        password: str,
        hasher: PasswordHasher,
    ) -> User:
        """Check a password. The user is read on an autocommit connection that is given back
        before hashing: a login waiting for a hash slot must not hold a pooled connection,
        or a login storm drains the pool for everyone else."""
        async with lookup.connect() as conn:
            found = await user_service.get_by_login(conn, login)
        ok, new_hash = await hasher.verify_and_update(
            password, found.hashed_password if found else None
        )
        # Failed attempts are not written here: the rollback would lose them, and a write
        # only for known users would make them measurably slower. Throttling keeps its
        # own counters.
        if found is None:
            raise BadCredentials(reason="unknown_user", user_id=None)
        if not ok:
            raise BadCredentials(reason="wrong_password", user_id=found.id)
        if not found.is_active:
            raise BadCredentials(reason="disabled", user_id=found.id)
        changes: dict[str, object] = {"last_login_at": utc_now()}
        if new_hash is not None:
            # A legacy bcrypt (or weaker Argon2) hash becomes today's Argon2id.
            changes["hashed_password"] = new_hash
        # Only while still active: an admin may have disabled the account since it was
        # read. The update waits for that change to commit, then matches nothing, so no
        # session starts after a disable ended the others (and none revives on re-enable).
        still_active = await session.execute(
            update(_users)
            .where(_users.c.id == found.id, _users.c.is_active.is_(True))
            .values(**changes)
            .returning(_users.c.id)
        )
        if still_active.one_or_none() is None:
            raise BadCredentials(reason="disabled", user_id=found.id)
        return found

    async def start_session(
        self,
        session: AsyncSession,
        *,
        user_id: uuid.UUID,
        client: ClientInfo,
        remember_me: bool,
        settings: Settings,
        keys: KeyRing,
    ) -> IssuedToken:
        await keys.ensure_loaded()
        now = utc_now()
        lifetime = (
            timedelta(days=settings.remember_me_session_ttl_days)
            if remember_me
            else timedelta(hours=settings.session_ttl_hours)
        )
        session_id = uuid.uuid4()
        refresh_token = new_token()
        # A Core insert: sign-in is hot during a login storm, and the ORM's unit of work
        # would cost more event-loop time than the statement itself.
        await session.execute(
            insert(_sessions).values(
                id=session_id,
                user_id=user_id,
                created_at=now,
                last_seen_at=now,
                authenticated_at=now,
                expires_at=now + lifetime,
                user_agent=client.user_agent,
                ip=client.ip,
                remember_me=remember_me,
                refresh_token_hash=token_hash(refresh_token),
            )
        )
        return self._issue(
            keys,
            settings,
            user_id=user_id,
            session_id=session_id,
            refresh_token=refresh_token,
            now=now,
            expires_at=now + lifetime,
            remember_me=remember_me,
        )

    def _issue(
        self,
        keys: KeyRing,
        settings: Settings,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        refresh_token: str,
        now: datetime,
        expires_at: datetime,
        remember_me: bool,
    ) -> IssuedToken:
        remaining = expires_at - now
        # An access token never outlives its session.
        ttl = min(timedelta(seconds=settings.access_token_ttl_seconds), remaining)
        token = keys.issue_access_token(subject=user_id, session_id=session_id, now=now, ttl=ttl)
        return IssuedToken(
            access_token=token,
            expires_in=int(ttl.total_seconds()),
            user_id=user_id,
            session_id=session_id,
            refresh_token=refresh_token,
            refresh_max_age=int(remaining.total_seconds()) if remember_me else None,
        )

    async def refresh(
        self,
        session: AsyncSession,
        *,
        refresh_token: str,
        keys: KeyRing,
        settings: Settings,
        client: ClientInfo | None = None,
    ) -> IssuedToken:
        """Rotate a refresh token: the presented one is spent, a successor is returned.

        A token rotated out less than ``refresh_grace_seconds`` ago gets the same successor
        again (derived from it with the server's key, so nothing is stored in the clear);
        later, it means the token was copied: the whole session is revoked.
        """
        await keys.ensure_loaded()
        now = utc_now()
        presented = token_hash(refresh_token)
        successor = derive_token(keys.derivation_key(REFRESH_DERIVATION_LABEL), refresh_token)
        # Row locks serialise concurrent refreshes of one session: the first rotates, the
        # others then find the token spent and, within the grace window, get the same
        # successor.
        current = (
            await session.execute(
                select(UserSession)
                .where(UserSession.refresh_token_hash == presented)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if current is not None:
            self._ensure_usable(current, now, settings)
            current.previous_refresh_token_hash = presented
            current.refresh_token_hash = token_hash(successor)
            current.rotated_at = now
            current.last_seen_at = now
            session.add(
                SpentRefreshToken(token_hash=presented, session_id=current.id, spent_at=now)
            )
            return await self._issue_for(session, current, successor, now, keys, settings)

        spent_by = (
            await session.execute(
                select(UserSession)
                .join(SpentRefreshToken, SpentRefreshToken.session_id == UserSession.id)
                .where(SpentRefreshToken.token_hash == presented)
                .with_for_update(of=UserSession)
            )
        ).scalar_one_or_none()
        if spent_by is None:
            raise invalid_refresh()
        grace = timedelta(seconds=settings.refresh_grace_seconds)
        is_latest_retry = (
            spent_by.previous_refresh_token_hash == presented
            and spent_by.rotated_at is not None
            and now - spent_by.rotated_at <= grace
            and spent_by.refresh_token_hash == token_hash(successor)
        )
        if not is_latest_retry:
            if spent_by.revoked_at is None:
                spent_by.revoked_at = now
                spent_by.revoked_reason = "refresh_token_reused"
                await audit.record(
                    session,
                    EventKind.refresh_reuse_detected,
                    user_id=spent_by.user_id,
                    session_id=spent_by.id,
                    client=client,
                )
                # The revocation must stand even though this request fails.
                await session.commit()
            raise invalid_refresh()
        self._ensure_usable(spent_by, now, settings)
        return await self._issue_for(session, spent_by, successor, now, keys, settings)

    def _ensure_usable(self, row: UserSession, now: datetime, settings: Settings) -> None:
        idle_limit = timedelta(hours=settings.session_idle_timeout_hours)
        if (
            row.revoked_at is not None
            or row.expires_at <= now
            or now - row.last_seen_at > idle_limit
        ):
            raise invalid_refresh()

    async def _issue_for(
        self,
        session: AsyncSession,
        row: UserSession,
        refresh_token: str,
        now: datetime,
        keys: KeyRing,
        settings: Settings,
    ) -> IssuedToken:
        active = (
            await session.execute(select(_users.c.is_active).where(_users.c.id == row.user_id))
        ).scalar_one_or_none()
        if not active:
            raise invalid_refresh()
        return self._issue(
            keys,
            settings,
            user_id=row.user_id,
            session_id=row.id,
            refresh_token=refresh_token,
            now=now,
            expires_at=row.expires_at,
            remember_me=row.remember_me,
        )

    async def verify_access_token(
        self, token: str, *, keys: KeyRing
    ) -> tuple[uuid.UUID, uuid.UUID]:
        """(user id, session id) from a valid access token, else 401."""
        try:
            return await keys.verify(token)
        except InvalidToken:
            raise AppError(
                ErrorCode.NOT_AUTHENTICATED,
                "Invalid or expired token",
                401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None

    async def load_live_session(
        self, conn: AsyncConnection, *, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> AuthUser:
        """Load user and live session in one indexed query, so a logout, revocation or
        disabled account takes effect on the very next request.

        ``conn`` should be in autocommit mode: the lookup is one statement and one round
        trip, and the occasional last-seen update stands on its own.
        """
        now = utc_now()
        params = {"session_id": session_id, "user_id": user_id, "now": now}
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        try:
            row = await driver.fetchrow(
                _LIVE_SESSION_SQL, *(params[name] for name in _LIVE_SESSION_PARAM_ORDER)
            )
        except DRIVER_CONNECTION_ERRORS:
            # SQLAlchemy did not see this failure, so tell its pool the connection is
            # dead; the next request gets a fresh one.
            await conn.invalidate()
            raise
        if row is None:
            raise AppError(
                ErrorCode.NOT_AUTHENTICATED,
                "Session has ended; sign in again",
                401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if now - row["last_seen_at"] > LAST_SEEN_RESOLUTION:
            await conn.execute(
                update(_sessions).where(_sessions.c.id == session_id).values(last_seen_at=now)
            )
        return AuthUser(
            id=row["id"],
            username=row["username"],
            email=row["email"],
            full_name=row["full_name"],
            is_active=row["is_active"],
            is_verified=row["is_verified"],
            is_superuser=row["is_superuser"],
            created_at=row["created_at"],
            session_id=session_id,
            authenticated_at=row["authenticated_at"],
        )

    async def revoke_by_refresh_token(
        self, session: AsyncSession, *, refresh_token: str, reason: str
    ) -> tuple[uuid.UUID, uuid.UUID] | None:
        """(user id, session id) of the session it ended, if it was live."""
        result = await session.execute(
            update(UserSession)
            .where(
                UserSession.refresh_token_hash == token_hash(refresh_token),
                UserSession.revoked_at.is_(None),
            )
            .values(revoked_at=utc_now(), revoked_reason=reason)
            .returning(UserSession.user_id, UserSession.id)
        )
        row = result.one_or_none()
        return (row[0], row[1]) if row else None

    async def revoke_session(
        self, session: AsyncSession, *, session_id: uuid.UUID, reason: str
    ) -> tuple[uuid.UUID, uuid.UUID] | None:
        """(user id, session id) if the session was live and is now ended."""
        result = await session.execute(
            update(UserSession)
            .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utc_now(), revoked_reason=reason)
            .returning(UserSession.user_id, UserSession.id)
        )
        row = result.one_or_none()
        return (row[0], row[1]) if row else None


auth = AuthService()

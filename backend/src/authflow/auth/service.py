"""Signing in and out: credential checks, sessions and access tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authflow.config import Settings
from authflow.errors import AppError, ErrorCode
from authflow.kit.clock import utc_now
from authflow.kit.jwt import InvalidToken, KeyRing
from authflow.kit.passwords import PasswordHasher
from authflow.models import User, UserSession
from authflow.user.service import user as user_service

BAD_CREDENTIALS_DETAIL = "Incorrect username or password"
# Seen-at is refreshed at most this often, so reading /users/me is not a write each time.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)


def bad_credentials() -> AppError:
    # One error for unknown user, wrong password and disabled user: nothing to enumerate.
    return AppError(
        ErrorCode.LOGIN_BAD_CREDENTIALS,
        BAD_CREDENTIALS_DETAIL,
        401,
        headers={"WWW-Authenticate": "Bearer"},
    )


@dataclass(frozen=True)
class ClientInfo:
    user_agent: str | None
    ip: str | None


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    session: UserSession


class AuthService:
    async def authenticate(
        self, session: AsyncSession, *, login: str, password: str, hasher: PasswordHasher
    ) -> User:
        found = await user_service.get_by_login(session, login)
        ok, new_hash = await hasher.verify_and_update(
            password, found.hashed_password if found else None
        )
        # Failed attempts are not written here: the rollback would lose them, and a write
        # only for known users would make them measurably slower. Throttling keeps its
        # own counters.
        if found is None or not ok or not found.is_active:
            raise bad_credentials()
        if new_hash is not None:
            # A legacy bcrypt (or weaker Argon2) hash becomes today's Argon2id.
            found.hashed_password = new_hash
        found.last_login_at = utc_now()
        return found

    async def start_session(
        self,
        session: AsyncSession,
        *,
        user: User,
        client: ClientInfo,
        remember_me: bool,
        settings: Settings,
        keys: KeyRing,
    ) -> IssuedToken:
        now = utc_now()
        lifetime = (
            timedelta(days=settings.remember_me_session_ttl_days)
            if remember_me
            else timedelta(hours=settings.session_ttl_hours)
        )
        user_session = UserSession(
            id=uuid.uuid4(),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            user_agent=client.user_agent,
            ip=client.ip,
            remember_me=remember_me,
        )
        session.add(user_session)
        await session.flush()
        # An access token never outlives its session.
        ttl = min(timedelta(seconds=settings.access_token_ttl_seconds), lifetime)
        token = keys.issue_access_token(
            subject=user.id, session_id=user_session.id, now=now, ttl=ttl
        )
        return IssuedToken(token, int(ttl.total_seconds()), user_session)

    async def resolve_access_token(
        self, session: AsyncSession, *, token: str, keys: KeyRing
    ) -> tuple[User, UserSession]:
        """Verify the JWT, then load user and live session in one indexed query, so a
        logout, revocation or disabled account takes effect on the very next request.

        ``session`` should be an autocommit session: the lookup is one statement, and the
        occasional last-seen update stands on its own.
        """
        try:
            user_id, session_id = keys.verify_access_token(token)
        except InvalidToken:
            raise AppError(
                ErrorCode.NOT_AUTHENTICATED,
                "Invalid or expired token",
                401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
        now = utc_now()
        row = (
            await session.execute(
                select(User, UserSession)
                .join(UserSession, UserSession.user_id == User.id)
                .where(
                    UserSession.id == session_id,
                    User.id == user_id,
                    UserSession.revoked_at.is_(None),
                    UserSession.expires_at > now,
                    User.is_active.is_(True),
                )
            )
        ).one_or_none()
        if row is None:
            raise AppError(
                ErrorCode.NOT_AUTHENTICATED,
                "Session has ended; sign in again",
                401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        user, user_session = row
        if now - user_session.last_seen_at > LAST_SEEN_RESOLUTION:
            await session.execute(
                update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now)
            )
            user_session.last_seen_at = now
        return user, user_session

    async def revoke_session(
        self, session: AsyncSession, *, session_id: uuid.UUID, reason: str
    ) -> None:
        await session.execute(
            update(UserSession)
            .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utc_now(), revoked_reason=reason)
        )


auth = AuthService()

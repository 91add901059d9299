"""A user's own sessions: list them, end one, end all but this one."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authflow.errors import AppError, ErrorCode
from authflow.kit.clock import utc_now
from authflow.kit.user_agent import describe
from authflow.models import UserSession
from authflow.user_session.schemas import SessionRead

MAX_SESSIONS_LISTED = 100


def _live(user_id: uuid.UUID) -> list[ColumnElement[bool]]:
    return [
        UserSession.user_id == user_id,
        UserSession.revoked_at.is_(None),
        UserSession.expires_at > utc_now(),
    ]


class UserSessionService:
    async def list_live(
        self, session: AsyncSession, *, user_id: uuid.UUID, current_id: uuid.UUID | None
    ) -> list[SessionRead]:
        rows = (
            await session.execute(
                select(UserSession)
                .where(*_live(user_id))
                .order_by(UserSession.last_seen_at.desc())
                .limit(MAX_SESSIONS_LISTED)
            )
        ).scalars()
        listed = []
        for row in rows:
            browser, device = describe(row.user_agent)
            listed.append(
                SessionRead(
                    id=row.id,
                    created_at=row.created_at,
                    last_seen_at=row.last_seen_at,
                    expires_at=row.expires_at,
                    ip=row.ip,
                    user_agent=row.user_agent,
                    browser=browser,
                    device=device,
                    remember_me=row.remember_me,
                    current=row.id == current_id,
                )
            )
        # This device first, then most recently seen.
        listed.sort(key=lambda s: not s.current)
        return listed

    async def revoke(
        self, session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> None:
        result = await session.execute(
            update(UserSession)
            .where(UserSession.id == session_id, *_live(user_id))
            .values(revoked_at=utc_now(), revoked_reason="revoked_by_user")
            .returning(UserSession.id)
        )
        if result.scalar_one_or_none() is None:
            # Someone else's session is as absent as one that never existed.
            raise AppError(ErrorCode.SESSION_NOT_FOUND, "Session not found", 404)

    async def revoke_others(
        self, session: AsyncSession, *, user_id: uuid.UUID, current_id: uuid.UUID
    ) -> int:
        result = await session.execute(
            update(UserSession)
            .where(UserSession.id != current_id, *_live(user_id))
            .values(revoked_at=utc_now(), revoked_reason="revoked_others_by_user")
            .returning(UserSession.id)
        )
        return len(result.scalars().all())

    async def revoke_all(
        self,
        session: AsyncSession,
        *,
        user_id: uuid.UUID,
        reason: str,
        keep: uuid.UUID | None = None,
    ) -> None:
        """End every live session of a user, except ``keep`` if given."""
        await session.execute(
            update(UserSession)
            .where(*_live(user_id), *([UserSession.id != keep] if keep else []))
            .values(revoked_at=utc_now(), revoked_reason=reason)
        )


user_session = UserSessionService()

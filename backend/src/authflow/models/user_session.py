from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from authflow.models.base import Base


class UserSession(Base):
    """One sign-in on one device. Access tokens name it in their ``sid`` claim, so
    revoking the row ends every token issued for it on the next request."""

    __tablename__ = "user_sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[str | None] = mapped_column(String(64))
    remember_me: Mapped[bool] = mapped_column(default=False, server_default="false")
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 (hex) of the current refresh token; the token itself is never stored.
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The token it replaced, recognised during the grace window and as reuse after it.
    previous_refresh_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    rotated_at: Mapped[datetime | None]
    # When this session last proved who it is: at sign-in (with the second factor when
    # the account has one) and at each step-up. Sensitive actions want it recent; None
    # means "ask again" (set when the account's sign-in rules get stricter).
    authenticated_at: Mapped[datetime | None]

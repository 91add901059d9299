from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from authflow.models.base import Base


class SpentRefreshToken(Base):
    """Every refresh token a session has rotated out (hash only). Seeing one again after
    the grace window means it was copied: the session is revoked."""

    __tablename__ = "spent_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_sessions.id", ondelete="CASCADE"), index=True
    )
    spent_at: Mapped[datetime]

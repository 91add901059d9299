from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from authflow.models.base import Base


class TwoFactorChallenge(Base):
    """What a correct password earns a user with two-factor: not a session, only the
    right to present a code for a few minutes. Only the token's SHA-256 is stored."""

    __tablename__ = "two_factor_challenges"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # Which sign-in started it ("browser" or "token"); each finishes only its own.
    via: Mapped[str] = mapped_column(String(16))
    remember_me: Mapped[bool]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    failed_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    used_at: Mapped[datetime | None]

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from authflow.models.base import Base


class UserDevice(Base):
    """A browser or API client a user has signed in from, so that the first sign-in from
    a new one can be reported by email (see authflow.device.service). Only a SHA-256 is
    kept: of the browser's random device cookie, or of an OAuth2 client's User-Agent."""

    __tablename__ = "user_devices"

    # user_id first: the primary key's index also answers "does this user have any
    # other device?".
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    device_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime]
    # Last successful sign-in from it: lets old devices be pruned.
    last_seen_at: Mapped[datetime]

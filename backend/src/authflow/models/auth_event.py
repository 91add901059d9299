from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from authflow.models.base import Base


class AuthEvent(Base):
    """The audit trail: one row per security-relevant event, never changed afterwards (a
    trigger refuses UPDATE, and DELETE outside the retention purge; see the migration).

    ``user_id`` has no foreign key on purpose: an account's events outlive the account.
    ``detail`` holds what only the server may know, such as why a sign-in failed.
    """

    __tablename__ = "auth_events"
    __table_args__ = (
        Index("ix_auth_events_user_id_id", "user_id", "id"),
        Index("ix_auth_events_occurred_at", "occurred_at"),
        # The admin events search by kind or address, newest first.
        Index("ix_auth_events_kind_id", "kind", "id"),
        Index("ix_auth_events_ip_id", "ip", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    occurred_at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[uuid.UUID | None]
    session_id: Mapped[uuid.UUID | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

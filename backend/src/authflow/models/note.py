from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from authflow.models.base import Base, TimestampedMixin


class Note(TimestampedMixin, Base):
    """The demo protected resource (the tutorial's "items")."""

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_owner_id_created_at", "owner_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(1000))
    completed: Mapped[bool] = mapped_column(default=False, server_default="false")

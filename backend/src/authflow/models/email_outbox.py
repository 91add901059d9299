from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from authflow.models.base import Base


class EmailOutbox(Base):
    """Messages to send, written in the same transaction as the change that causes them;
    the outbox worker delivers them (see authflow.email.worker)."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        # The worker's queue: only what is still waiting, in due order.
        Index(
            "ix_email_outbox_pending",
            "next_attempt_at",
            postgresql_where=text("sent_at IS NULL AND dead_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # What the message is for (verify_email, ...): for the dev mailbox and the logs.
    kind: Mapped[str] = mapped_column(String(32))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(1000))
    sent_at: Mapped[datetime | None]
    # Gave up after the configured number of attempts.
    dead_at: Mapped[datetime | None]

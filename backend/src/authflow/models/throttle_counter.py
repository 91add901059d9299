from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from authflow.models.base import Base


class ThrottleCounter(Base):
    """Throttling state every API process shares (when no Redis is configured): hits in
    the current fixed window, or consecutive failures, per key (see authflow.throttle).

    The table is UNLOGGED: counters are rewritten on every attempt, and losing them in a
    database crash only means attackers start from zero again; skipping the WAL keeps a
    login storm from turning into a write storm.
    """

    __tablename__ = "throttle_counters"
    __table_args__ = (
        Index("ix_throttle_counters_expires_at", "expires_at"),
        {"prefixes": ["UNLOGGED"]},
    )

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    hits: Mapped[int] = mapped_column(default=0, server_default="0")
    window_end: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(default=0, server_default="0")
    last_failure_at: Mapped[datetime | None]
    # After this the row means nothing and may be deleted.
    expires_at: Mapped[datetime]

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from authflow.models.base import Base, TimestampedMixin


class User(TimestampedMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        # Keyset pages of the admin user list.
        Index("ix_users_created_at_id", "created_at", "id"),
        # Prefix search (LIKE 'abc%'): a btree serves it only under the C collation or
        # with text_pattern_ops.
        Index(
            "ix_users_username_key_prefix",
            "username_key",
            "id",
            postgresql_ops={"username_key": "text_pattern_ops"},
        ),
        Index(
            "ix_users_email_key_prefix",
            "email_key",
            postgresql_ops={"email_key": "text_pattern_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # As typed by the user, for display.
    username: Mapped[str] = mapped_column(String(64))
    # NFKC + casefold of username: what uniqueness and login compare.
    username_key: Mapped[str] = mapped_column(String(256), unique=True)
    # Nullable only for accounts created through the tutorial's /users/ route.
    email: Mapped[str | None] = mapped_column(String(320))
    email_key: Mapped[str | None] = mapped_column(String(1024), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    hashed_password: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")
    is_verified: Mapped[bool] = mapped_column(default=False, server_default="false")
    is_superuser: Mapped[bool] = mapped_column(default=False, server_default="false")
    failed_login_count: Mapped[int] = mapped_column(default=0, server_default="0")
    last_failed_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_login_at: Mapped[datetime | None]

    @property
    def disabled(self) -> bool:
        """The tutorial's field name; kept so its clients read our users unchanged."""
        return not self.is_active

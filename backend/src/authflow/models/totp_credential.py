from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, func
from sqlalchemy.orm import Mapped, mapped_column

from authflow.models.base import Base


class TotpCredential(Base):
    """A user's authenticator-app secret. One per user: a row without ``confirmed_at`` is
    an enrolment in progress and changes nothing about how the user signs in."""

    __tablename__ = "totp_credentials"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # The base32 secret sealed with the server secret (AES-GCM, bound to user_id).
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    confirmed_at: Mapped[datetime | None]
    # The newest 30-second step whose code was accepted: a code is good once, and no
    # older code is good after it.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)

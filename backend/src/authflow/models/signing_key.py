from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from authflow.models.base import Base


class SigningKey(Base):
    """Access-token signing keys, shared by every API process. The newest key without
    ``retired_at`` signs; a retired key stays published (JWKS) and accepted until every
    token it signed has expired."""

    __tablename__ = "signing_keys"

    # RFC 7638 thumbprint of the public key, as in the JWT header.
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # AES-GCM under a key derived from AUTHFLOW_SECRET_KEY, bound to the kid: a database
    # dump alone cannot mint tokens.
    private_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None] = mapped_column(index=True)

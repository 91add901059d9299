from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class SessionSummary(BaseModel):
    """A live session as anyone may be shown it: the owner (below) and admins."""

    id: uuid.UUID
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    browser: str
    device: str


class SessionRead(SessionSummary):
    remember_me: bool
    current: bool


class RevokedCount(BaseModel):
    revoked: int

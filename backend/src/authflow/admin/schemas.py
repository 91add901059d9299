from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from authflow.user_session.schemas import SessionSummary


class AdminUserRow(BaseModel):
    id: uuid.UUID
    username: str
    email: str | None
    full_name: str | None
    is_active: bool
    is_verified: bool
    is_admin: bool
    two_factor_enabled: bool
    created_at: datetime
    last_login_at: datetime | None


class AdminUserPage(BaseModel):
    items: list[AdminUserRow]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class AdminSessionRow(SessionSummary):
    pass


class AdminEventRow(BaseModel):
    id: int
    occurred_at: datetime
    kind: str
    user_id: uuid.UUID | None
    username: str | None = Field(description="The account's current username; null once deleted")
    session_id: uuid.UUID | None
    ip: str | None
    user_agent: str | None
    detail: dict[str, Any] | None


class AdminEventPage(BaseModel):
    items: list[AdminEventRow]
    next_before: int | None = Field(description="Pass as `before` for older events")


class AdminUserDetail(BaseModel):
    user: AdminUserRow
    sessions: list[AdminSessionRow]
    events: list[AdminEventRow]

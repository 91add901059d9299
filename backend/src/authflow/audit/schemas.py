from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ActivityRead(BaseModel):
    id: int
    kind: str = Field(description="signup, login_ok, login_failed, logout, password_changed, ...")
    occurred_at: datetime
    ip: str | None
    browser: str
    device: str
    this_session: bool = Field(description="Happened in the session making this request")


class ActivityPage(BaseModel):
    events: list[ActivityRead]
    # Pass as `before` for the next (older) page; null when there is none.
    next_before: int | None

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class DeliveryStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    dead = "dead"


class MailboxMessage(BaseModel):
    id: uuid.UUID
    kind: str = Field(description="verify_email, reset_password, password_changed, ...")
    to_address: str
    subject: str
    created_at: datetime
    status: DeliveryStatus = Field(
        description="pending: not delivered yet (or retrying); sent; dead: gave up"
    )
    attempts: int
    last_error: str | None


class MailboxMessageDetail(MailboxMessage):
    text_body: str
    html_body: str

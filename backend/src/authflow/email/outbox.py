"""Queueing a message: one row, in the caller's transaction, so the message exists
exactly when the change that caused it is committed."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from authflow.email.message import OutgoingEmail
from authflow.kit.clock import utc_now
from authflow.models import EmailOutbox


async def enqueue(session: AsyncSession, message: OutgoingEmail, *, kind: str) -> None:
    now = utc_now()
    await session.execute(
        insert(EmailOutbox).values(
            kind=kind,
            to_address=message.to_address,
            subject=message.subject,
            text_body=message.text_body,
            html_body=message.html_body,
            created_at=now,
            next_attempt_at=now,
        )
    )

"""Reading the outbox for the development mailbox. Reads only: what the worker does with
a message is none of the mailbox's business."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authflow.dev_mailbox.schemas import DeliveryStatus
from authflow.errors import AppError, ErrorCode
from authflow.models import EmailOutbox


def status_of(message: EmailOutbox) -> DeliveryStatus:
    if message.dead_at is not None:
        return DeliveryStatus.dead
    if message.sent_at is not None:
        return DeliveryStatus.sent
    return DeliveryStatus.pending


async def newest(session: AsyncSession, *, limit: int) -> Sequence[EmailOutbox]:
    """The ``limit`` most recently queued messages, newest first."""
    result = await session.execute(
        select(EmailOutbox)
        .order_by(EmailOutbox.created_at.desc(), EmailOutbox.id.desc())
        .limit(limit)
    )
    return result.scalars().all()


async def get(session: AsyncSession, *, message_id: uuid.UUID) -> EmailOutbox:
    message = await session.get(EmailOutbox, message_id)
    if message is None:
        raise AppError(ErrorCode.OUTBOX_MESSAGE_NOT_FOUND, "No such message in the outbox", 404)
    return message

"""Sends what the outbox holds. Any number of API processes run one each.

A message is claimed with ``FOR UPDATE SKIP LOCKED`` and stays locked while it is sent,
so two workers never send the same row; the row is marked sent in that same
transaction. A failure schedules a retry with exponential backoff; after the configured
number of attempts the message is marked dead. Delivery is at least once: a process
killed after the SMTP server accepted a message but before the commit sends it again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.config import Settings
from authflow.email.backends import EmailBackend
from authflow.email.message import OutgoingEmail
from authflow.kit.clock import utc_now
from authflow.models import EmailOutbox

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


def backoff(settings: Settings, attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure."""
    seconds = settings.outbox_backoff_base_seconds * 2 ** min(attempts - 1, 30)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


class OutboxWorker:
    def __init__(self, engine: AsyncEngine, backend: EmailBackend, settings: Settings) -> None:
        self.engine = engine
        self.backend = backend
        self.settings = settings

    async def deliver_one(self) -> bool:
        """Send the oldest due message, if any; True when there was one."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(EmailOutbox.__table__)
                    .where(
                        EmailOutbox.sent_at.is_(None),
                        EmailOutbox.dead_at.is_(None),
                        EmailOutbox.next_attempt_at <= utc_now(),
                    )
                    .order_by(EmailOutbox.next_attempt_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).one_or_none()
            if row is None:
                return False
            message = OutgoingEmail(
                to_address=row.to_address,
                subject=row.subject,
                text_body=row.text_body,
                html_body=row.html_body,
            )
            attempts = row.attempts + 1
            now = utc_now()
            try:
                await self.backend.send(message)
            except Exception as exc:
                dead = attempts >= self.settings.outbox_max_attempts
                outcome = {
                    "last_error": f"{type(exc).__name__}: {exc}"[:1000],
                    "next_attempt_at": now + backoff(self.settings, attempts),
                    "dead_at": now if dead else None,
                }
                log = logger.error if dead else logger.warning
                log(
                    "email %s (%s) attempt %d failed%s: %s",
                    row.id,
                    row.kind,
                    attempts,
                    "; giving up" if dead else "",
                    exc,
                )
            else:
                outcome = {"sent_at": utc_now(), "last_error": None}
            await conn.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == row.id)
                .values(attempts=attempts, **outcome)
            )
            return True

    async def deliver_due(self) -> int:
        sent = 0
        while await self.deliver_one():
            sent += 1
        return sent

    async def run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:
                # The database is down or similar: the messages wait in the table.
                logger.warning("outbox worker: delivery round failed", exc_info=True)
            await asyncio.sleep(self.settings.outbox_poll_seconds)

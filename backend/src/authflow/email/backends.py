"""Where the outbox worker hands messages: a real SMTP server, or the log."""

from __future__ import annotations

import logging
from typing import Protocol

import aiosmtplib

from authflow.config import Settings
from authflow.email.message import OutgoingEmail, to_mime
from authflow.logs import UNREDACTED_IN_DEVELOPMENT

logger = logging.getLogger(__name__)


class EmailBackend(Protocol):
    async def send(self, message: OutgoingEmail) -> None:
        """Deliver or raise; the worker retries on any exception."""


class ConsoleBackend:
    """Development: the message goes to the API's log (and the dev mailbox reads the
    outbox table), so no mail server is needed to try the flows."""

    async def send(self, message: OutgoingEmail) -> None:
        # The link is the point in development; anywhere else the log filter redacts it.
        logger.warning(
            "email (console backend) to %s: %s\n%s",
            message.to_address,
            message.subject,
            message.text_body,
            extra=UNREDACTED_IN_DEVELOPMENT,
        )


class SmtpBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: OutgoingEmail) -> None:
        s = self.settings
        await aiosmtplib.send(
            to_mime(message, sender=s.email_from),
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            use_tls=s.smtp_security == "tls",
            # False, not None: aiosmtplib would otherwise upgrade whenever offered.
            start_tls=s.smtp_security == "starttls",
            timeout=s.smtp_timeout_seconds,
        )


def backend_for(settings: Settings) -> EmailBackend:
    if settings.email_backend == "smtp":
        return SmtpBackend(settings)
    return ConsoleBackend()

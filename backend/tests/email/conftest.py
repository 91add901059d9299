"""A real SMTP server (aiosmtpd) on 127.0.0.1, and apps whose outbox worker sends to it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from authflow import devdb


@dataclass
class Mailbox:
    """What the SMTP server accepted, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def to(self, address: str, subject: str = "") -> list[EmailMessage]:
        """Messages to ``address`` whose subject contains ``subject``."""
        return [m for m in self.messages if m["To"] == address and subject in m["Subject"]]

    async def wait_for(
        self, address: str, count: int = 1, within: float = 10, *, subject: str = ""
    ) -> EmailMessage:
        deadline = time.monotonic() + within
        while len(self.to(address, subject)) < count:
            assert time.monotonic() < deadline, f"no message to {address} within {within}s"
            await asyncio.sleep(0.02)
        return self.to(address, subject)[count - 1]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, path: str) -> str:
    match = re.search(r"https?://\S+" + re.escape(path) + r"\?token=([\w-]+)", text_of(message))
    assert match, text_of(message)
    return match.group(1)


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.mailbox = Mailbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(devdb.free_port())
    server.start()
    yield server
    server.stop()


def smtp_settings(port: int) -> dict[str, Any]:
    return {
        "email_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_timeout_seconds": 2.0,
        "outbox_worker": True,
        "outbox_poll_seconds": 0.05,
        "outbox_backoff_base_seconds": 0.05,
    }


@pytest.fixture
def mail_app(make_app: Callable[..., FastAPI], engine: Any) -> Callable[..., Any]:
    """An app (lifespan running, so its outbox worker too) sending to ``port``."""

    @asynccontextmanager
    async def _running(port: int, **overrides: Any) -> AsyncIterator[FastAPI]:
        app = make_app(**{**smtp_settings(port), **overrides})
        async with app.router.lifespan_context(app):
            yield app

    return _running

"""An email as the outbox stores it, and its MIME form for SMTP."""

from __future__ import annotations

import email.message
import email.utils
from dataclasses import dataclass


class UnsafeHeader(ValueError):
    """A header value that would end the header early (CR or LF): header injection."""


def _header(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise UnsafeHeader("header values may not contain CR or LF")
    return value


@dataclass(frozen=True)
class OutgoingEmail:
    to_address: str
    subject: str
    text_body: str
    html_body: str


def to_mime(message: OutgoingEmail, *, sender: str) -> email.message.EmailMessage:
    """Plain text with an HTML alternative. Every header value is checked for line
    breaks here, the last point before the wire, whatever the caller validated."""
    mime = email.message.EmailMessage()
    mime["From"] = _header(sender)
    mime["To"] = _header(message.to_address)
    mime["Subject"] = _header(message.subject)
    mime["Date"] = email.utils.formatdate(localtime=False)
    mime["Message-ID"] = email.utils.make_msgid(domain="authflow.local")
    mime.set_content(message.text_body)
    mime.add_alternative(message.html_body, subtype="html")
    return mime

"""Who made a request, as far as the server can tell."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientInfo:
    user_agent: str | None
    ip: str | None

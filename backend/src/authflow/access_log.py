"""The request id and the access log: one line per request, written by us rather than by
uvicorn, so it has the request id and never the query string (links carry ``?token=``).

A request keeps the ``X-Request-ID`` it came with if that is 1-64 characters of
``[A-Za-z0-9._-]`` (an id a proxy or the web app assigned), and gets a fresh one
otherwise. The id is returned in ``X-Request-ID`` and tagged on every record logged while
the request is handled (authflow.logs). An exception nothing handled becomes the usual
500/503 here, logged once, so it carries the id and passes through the security headers.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authflow import logs
from authflow.auth.dependencies import client_ip
from authflow.errors import unexpected_error

logger = logging.getLogger("authflow.access")
REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
MAX_LOGGED_PATH = 2048


def _request_id(headers: Sequence[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            if _VALID_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return uuid.uuid4().hex


def _path(scope: Scope) -> str:
    # The path as it arrived (percent-encoded, so printable), without the query string.
    raw: bytes | None = scope.get("raw_path")
    if raw is None:
        return str(scope["path"])[:MAX_LOGGED_PATH]
    path = raw.split(b"?", 1)[0].decode("ascii", "backslashreplace")
    return path[:MAX_LOGGED_PATH]


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[str] = ()) -> None:
        self.app = app
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = _request_id(scope["headers"])
        token = logs.request_id.set(rid)
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, rid)
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if status is not None:
                    logger.exception("response failed after it started")
                    raise
                await unexpected_error(exc)(scope, receive, send_with_id)
        finally:
            self._log(scope, status, started)
            logs.request_id.reset(token)

    def _log(self, scope: Scope, status: int | None, started: float) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        method = scope["method"]
        path = _path(scope)
        peer = scope.get("client")
        forwarded = [v.decode("latin-1") for n, v in scope["headers"] if n == b"x-forwarded-for"]
        ip = client_ip(peer[0] if peer else None, forwarded, self.trusted_proxies)
        logger.info(
            "%s %s %s %.1fms %s",
            method,
            path,
            status if status is not None else "-",
            duration_ms,
            ip or "-",
            extra={
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "client_ip": ip,
            },
        )

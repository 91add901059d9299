"""Refuse cross-origin browser requests that would act with the user's cookie.

SameSite=Lax keeps other sites' POSTs from carrying the cookie, but not same-site ones
(another port on localhost, a sibling subdomain), and it does nothing against login CSRF
(signing the victim into the attacker's account). Browsers label every unsafe request
with ``Origin`` and ``Sec-Fetch-Site``; a request that claims another origin is refused.
Clients that send neither (curl, mobile apps, services) and Bearer requests are not
browsers acting on a cookie, so they pass. The double-submit token comes with sessions.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from authflow.auth.cookies import ACCESS_COOKIE
from authflow.errors import ErrorCode, error_json

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALLOWED_FETCH_SITES = frozenset({b"same-origin", b"none"})
# Sign-in endpoints are checked even without a cookie: that is where login CSRF happens.
ALWAYS_CHECKED_PREFIX = "/api/auth/"


class OriginCheckMiddleware:
    def __init__(self, app: ASGIApp, web_origin: str) -> None:
        self.app = app
        self.web_origin = web_origin.rstrip("/").encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = dict(scope["headers"])
            if self._needs_check(scope["path"], headers) and not self._same_origin(headers):
                response = error_json(
                    ErrorCode.CROSS_ORIGIN_REQUEST,
                    "Cross-origin request refused",
                    403,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _needs_check(path: str, headers: dict[bytes, bytes]) -> bool:
        if headers.get(b"authorization", b"")[:7].lower() == b"bearer ":
            return False
        return path.startswith(ALWAYS_CHECKED_PREFIX) or ACCESS_COOKIE.encode() in headers.get(
            b"cookie", b""
        )

    def _same_origin(self, headers: dict[bytes, bytes]) -> bool:
        origin = headers.get(b"origin")
        if origin is not None and origin != self.web_origin:
            return False
        site = headers.get(b"sec-fetch-site")
        return site is None or site in ALLOWED_FETCH_SITES

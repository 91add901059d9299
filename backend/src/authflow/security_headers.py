"""Security headers on every response the API sends, errors and 404s included.

The API answers JSON: its CSP allows nothing and no framing. A response that sets its own
Content-Security-Policy (the OpenAPI docs pages, see authflow.api_docs) or any other of
these headers keeps it. HSTS only outside development and test, where the API is behind
https; on http://localhost it would pin the host to https for two years.

Caching: auth responses (``/api/auth/*``, ``/token``, ``/users/me*``, ``/api/users/*``,
``/api/sessions*``) and every response that sets a cookie are ``no-store`` whatever the
route said, so no route can forget; any other response without a Cache-Control of its own
is ``no-store`` too, and one that has one (the JWKS, cacheable for five minutes) keeps it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=63072000; includeSubDomains"
NO_STORE_PATH_PREFIXES = ("/api/auth/", "/token", "/users/me", "/api/users/", "/api/sessions")

_DEFAULTS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", JSON_CSP.encode()),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
_HSTS = (b"strict-transport-security", HSTS.encode())
_NO_STORE = (b"cache-control", b"no-store")


def always_no_store(path: str) -> bool:
    return path.startswith(NO_STORE_PATH_PREFIXES)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.defaults = (*_DEFAULTS, _HSTS) if hsts else _DEFAULTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        forced_no_store = always_no_store(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._harden(list(message.get("headers", ())), forced_no_store)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _harden(
        self, headers: list[tuple[bytes, bytes]], forced_no_store: bool
    ) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        if forced_no_store or b"set-cookie" in present:
            headers = [h for h in headers if h[0].lower() != b"cache-control"]
            headers.append(_NO_STORE)
        elif b"cache-control" not in present:
            headers.append(_NO_STORE)
        headers.extend(h for h in self.defaults if h[0] not in present)
        return headers

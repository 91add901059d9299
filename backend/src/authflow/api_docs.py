"""FastAPI's interactive docs (Swagger UI at /docs, ReDoc at /redoc), each page with a
Content-Security-Policy that allows exactly what it loads.

The pages are FastAPI's own HTML; what they need is its scripts and styles from the CDN
FastAPI points at, one inline script (allowed by its SHA-256, computed from the page
served, so no 'unsafe-inline' for scripts), inline styles (Swagger UI and ReDoc inject
them), fetches of the schema from this origin and, for ReDoc, its search worker (blob:)
and web fonts. Everything else (framing, forms, other origins) stays refused.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
CDN = "https://cdn.jsdelivr.net"
FAVICON_HOST = "https://fastapi.tiangolo.com"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_COMMON = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def _script_hashes(html: str) -> str:
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    )


def _with_csp(page: HTMLResponse, csp: str) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = csp
    return page


def swagger_csp(html: str) -> str:
    return (
        f"{_COMMON}; script-src {CDN} {_script_hashes(html)}; style-src {CDN} 'unsafe-inline'; "
        f"img-src 'self' data: {FAVICON_HOST}; font-src {CDN} data:; connect-src 'self'"
    )


def redoc_csp() -> str:
    return (
        f"{_COMMON}; script-src {CDN}; style-src 'unsafe-inline' https://fonts.googleapis.com; "
        f"font-src https://fonts.gstatic.com; img-src 'self' data: {FAVICON_HOST}; "
        "connect-src 'self'; worker-src blob:"
    )


def install_docs(app: FastAPI) -> None:
    """Add /docs, its OAuth2 redirect page and /redoc (create the app with
    ``docs_url=None, redoc_url=None`` so FastAPI does not add its own)."""
    openapi_url = app.openapi_url
    assert openapi_url, "the docs pages need the schema"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    async def swagger_ui(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=root_path + openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root_path + oauth2_redirect_url if oauth2_redirect_url else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        return _with_csp(page, swagger_csp(bytes(page.body).decode()))

    async def redoc(request: Request) -> HTMLResponse:
        root_path = request.scope.get("root_path", "").rstrip("/")
        page = get_redoc_html(openapi_url=root_path + openapi_url, title=f"{app.title} - ReDoc")
        return _with_csp(page, redoc_csp())

    app.add_route(DOCS_URL, swagger_ui, include_in_schema=False)
    app.add_route(REDOC_URL, redoc, include_in_schema=False)
    if oauth2_redirect_url:

        async def oauth2_redirect(_: Request) -> HTMLResponse:
            page = get_swagger_ui_oauth2_redirect_html()
            csp = f"{_COMMON}; script-src {_script_hashes(bytes(page.body).decode())}"
            return _with_csp(page, csp)

        app.add_route(oauth2_redirect_url, oauth2_redirect, include_in_schema=False)

"""Security headers on every API response, no-store on every auth response, and the
OpenAPI docs pages with a CSP that allows exactly what they load."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

from authflow.config import Environment
from tests.conftest import AccountFactory, client_for

PASSWORD = "correct horse battery staple"
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=63072000; includeSubDomains"
ALWAYS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


def assert_hardened(r: httpx.Response, *, csp: str | None = JSON_CSP) -> None:
    for name, value in ALWAYS.items():
        assert r.headers.get(name) == value, (r.request.url, name, r.headers)
        assert len(r.headers.get_list(name)) == 1, (name, r.headers)
    if csp is not None:
        assert r.headers.get("content-security-policy") == csp, r.headers
    assert r.headers.get("x-request-id"), r.headers
    # Tests run with AUTHFLOW_ENV=test: no HSTS (it would pin localhost to https).
    assert "strict-transport-security" not in r.headers


def assert_no_store(r: httpx.Response) -> None:
    assert r.headers.get_list("cache-control") == ["no-store"], (r.request.url, r.headers)


def _app_with_extra_routes(make_app: Any, **overrides: Any) -> FastAPI:
    app: FastAPI = make_app(**overrides)

    async def boom() -> None:
        raise RuntimeError("a bug nobody handled")

    async def cached_auth() -> Response:
        return JSONResponse({"ok": True}, headers={"Cache-Control": "public, max-age=600"})

    async def cached_with_cookie() -> Response:
        response = JSONResponse({"ok": True}, headers={"Cache-Control": "public, max-age=600"})
        response.set_cookie("something", "value", secure=True, httponly=True)
        return response

    async def own_headers() -> Response:
        return JSONResponse(
            {"ok": True},
            headers={"Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "DENY"},
        )

    app.add_api_route("/api/test/boom", boom)
    app.add_api_route("/api/auth/test-cached", cached_auth)
    app.add_api_route("/api/test/cookie", cached_with_cookie)
    app.add_api_route("/api/test/own-headers", own_headers)
    return app


class TestHeadersOnEveryResponse:
    async def test_success(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/health")
        assert r.status_code == 200
        assert_hardened(r)

    async def test_unauthenticated(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/users/me")
        assert r.status_code == 401
        assert_hardened(r)
        assert_no_store(r)

    async def test_not_found_and_method_not_allowed(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/no/such/thing")
        assert r.status_code == 404
        assert_hardened(r)
        r = await client.put("/api/health")
        assert r.status_code == 405
        assert_hardened(r)

    async def test_validation_error(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/auth/login", json={"login": ""})
        assert r.status_code == 422
        assert_hardened(r)
        assert_no_store(r)

    async def test_body_too_large(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/auth/login", content=b"x" * (64 * 1024 + 1))
        assert r.status_code == 413
        assert_hardened(r)
        assert_no_store(r)

    async def test_cross_origin_refusal(self, client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/api/auth/login",
            json={"login": "someone", "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
        assert r.status_code == 403
        assert_hardened(r)
        assert_no_store(r)

    async def test_unhandled_exception_is_a_hardened_500(self, make_app: Any) -> None:
        app = _app_with_extra_routes(make_app)
        async with client_for(app) as c:
            r = await c.get("/api/test/boom")
        assert r.status_code == 500
        assert r.json() == {"code": "INTERNAL_ERROR", "detail": "Internal server error"}
        assert_hardened(r)
        assert_no_store(r)

    async def test_headers_a_route_sets_itself_are_kept_not_doubled(self, make_app: Any) -> None:
        app = _app_with_extra_routes(make_app)
        async with client_for(app) as c:
            r = await c.get("/api/test/own-headers")
        assert_hardened(r, csp="default-src 'self'")
        assert r.headers.get_list("content-security-policy") == ["default-src 'self'"]


class TestStrictTransportSecurity:
    @pytest.mark.parametrize("env", [Environment.production])
    async def test_sent_outside_development_and_test(self, make_app: Any, env: str) -> None:
        async with client_for(make_app(env=env)) as c:
            for r in (await c.get("/api/health"), await c.get("/nothing/here")):
                assert r.headers.get_list("strict-transport-security") == [HSTS]

    @pytest.mark.parametrize("env", [Environment.development, Environment.test])
    async def test_not_sent_in_development_or_test(self, make_app: Any, env: str) -> None:
        async with client_for(make_app(env=env)) as c:
            r = await c.get("/api/health")
        assert "strict-transport-security" not in r.headers


class TestNoStore:
    async def test_every_auth_route_answers_no_store(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        account = await accounts.signup()
        login = account["username"]

        r = await client.post("/token", data={"username": login, "password": "wrong password"})
        assert r.status_code == 401
        assert_no_store(r)
        r = await client.post("/token", data={"username": login, "password": PASSWORD})
        assert r.status_code == 200
        assert_no_store(r)
        bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}

        for path in ("/users/me/", "/users/me/items/", "/api/users/me", "/api/sessions"):
            r = await client.get(path, headers=bearer)
            assert r.status_code == 200, (path, r.text)
            assert_no_store(r)
            assert_hardened(r)

        r = await client.post("/api/auth/login", json={"login": login, "password": PASSWORD})
        assert r.status_code == 200
        assert "set-cookie" in r.headers
        assert_no_store(r)
        r = await client.post("/api/auth/refresh")
        assert r.status_code == 200
        assert_no_store(r)
        r = await client.get("/api/auth/resume", params={"next": "/notes"})
        assert r.status_code == 303
        assert_no_store(r)
        r = await client.post("/api/auth/logout")
        assert r.status_code == 204
        assert_no_store(r)
        r = await client.post("/api/auth/refresh")
        assert r.status_code == 401
        assert_no_store(r)

    async def test_auth_paths_and_cookies_override_a_route_that_asks_for_caching(
        self, make_app: Any
    ) -> None:
        app = _app_with_extra_routes(make_app)
        async with client_for(app) as c:
            r = await c.get("/api/auth/test-cached")
            assert_no_store(r)
            r = await c.get("/api/test/cookie")
            assert "set-cookie" in r.headers
            assert_no_store(r)

    async def test_responses_without_their_own_policy_are_not_cached(
        self, client: httpx.AsyncClient
    ) -> None:
        assert_no_store(await client.get("/api/health"))
        assert_no_store(await client.get("/openapi.json"))

    async def test_jwks_stays_cacheable(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/.well-known/jwks.json")
        assert r.status_code == 200
        assert r.headers.get_list("cache-control") == ["public, max-age=300"]
        assert_hardened(r)


def _directives(csp: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *values = part.split()
        assert name not in out, f"{name} given twice"
        out[name] = values
    return out


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _allowed(directives: dict[str, list[str]], name: str, url: str) -> bool:
    sources = directives.get(name, directives["default-src"])
    if not urlsplit(url).netloc:
        return "'self'" in sources
    return _origin(url) in sources


class TestDocsPages:
    """FastAPI's Swagger UI and ReDoc load scripts and styles from a CDN and run an inline
    script; each page gets a CSP allowing exactly that (inline scripts by hash)."""

    @pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
    async def test_page_loads_under_its_own_csp(self, client: httpx.AsyncClient, path: str) -> None:
        r = await client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert_hardened(r, csp=csp)
        directives = _directives(csp)
        assert directives["default-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]
        scripts = directives.get("script-src", [])
        assert "'unsafe-inline'" not in scripts
        assert "'unsafe-eval'" not in scripts
        html = r.text

        inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
        external = re.findall(r'<script src="([^"]+)"', html)
        assert inline or external
        for body in inline:
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in scripts, path
        for src in external:
            assert _allowed(directives, "script-src", src), src
        for href in re.findall(r'<link[^>]*rel="stylesheet"[^>]*>', html):
            url = re.search(r'href="([^"]+)"', href)
            assert url and _allowed(directives, "style-src", url.group(1)), href
        for href in re.findall(r'<link[^>]*rel="shortcut icon" href="([^"]+)"', html):
            assert _allowed(directives, "img-src", href), href
        if "<style>" in html:
            assert "'unsafe-inline'" in directives["style-src"]
        if 'url: "' in html or "spec-url=" in html or "url: '" in html:
            # The page fetches the schema from this origin.
            assert "'self'" in directives["connect-src"]

    async def test_schema_itself_is_plain_json(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/openapi.json")
        assert r.status_code == 200
        assert r.json()["info"]["title"] == "Authflow API"
        assert_hardened(r)

    async def test_docs_stay_out_of_the_schema(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(paths)

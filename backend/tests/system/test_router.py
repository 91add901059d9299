"""Health, readiness, JWKS and the edges every route shares: size limit, 404s, errors."""

from __future__ import annotations

import httpx


class TestSystem:
    async def test_health_needs_nothing(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/health")
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}

    async def test_ready_checks_database(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/ready")
        assert r.status_code == 200
        assert r.json() == {"status": "ready"}

    async def test_jwks_has_only_public_parts(self, client: httpx.AsyncClient) -> None:
        keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
        assert len(keys) == 1
        assert keys[0]["kty"] == "OKP" and keys[0]["crv"] == "Ed25519"
        assert "d" not in keys[0]


class TestEdges:
    async def test_one_mebibyte_body_is_413(self, client: httpx.AsyncClient) -> None:
        big = b'{"username": "' + b"a" * (1024 * 1024) + b'"}'
        r = await client.post(
            "/api/auth/signup", content=big, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
        assert r.json()["code"] == "REQUEST_TOO_LARGE"

    async def test_chunked_body_over_limit_is_413(self, client: httpx.AsyncClient) -> None:
        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(100):
                yield b"x" * 1024

        r = await client.post(
            "/api/notes", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413

    async def test_form_body_over_limit_is_413(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/token", data={"username": "u" * 70_000, "password": "p"})
        assert r.status_code == 413

    async def test_unknown_route_and_method(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/nope")
        assert r.status_code == 404
        assert r.json()["code"] == "NOT_FOUND"
        r = await client.delete("/api/health")
        assert r.status_code == 405
        assert r.json()["code"] == "METHOD_NOT_ALLOWED"

    async def test_bad_content_length(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/auth/login", content=b"{}", headers={"Content-Length": "abc"})
        assert r.status_code in (400, 422)

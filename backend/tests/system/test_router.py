"""Health, readiness, JWKS and the edges every route shares: size limit, 404s, errors."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx

from authflow.kit.clock import utc_now
from authflow.kit.jwt import KeyRing, KeySet, SigningKey


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
        assert r.status_code == 400
        assert r.json()["code"] == "VALIDATION_ERROR"

    async def test_undecodable_json_is_422(self, client: httpx.AsyncClient) -> None:
        for raw in (b"[" * 30_000 + b"]" * 30_000, b'{"login": ' + b"9" * 5000 + b"}"):
            r = await client.post(
                "/api/auth/login", content=raw, headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 422, r.text
            assert r.json()["code"] == "VALIDATION_ERROR"

    async def test_non_json_content_type_is_refused(self, client: httpx.AsyncClient) -> None:
        # What keeps a cross-site <form> from posting JSON-looking text/plain bodies.
        r = await client.post(
            "/api/auth/signup",
            content=b'{"username": "ct_user", "email": "ct@example.com", "password": "long pw 1"}',
            headers={"Content-Type": "text/plain"},
        )
        assert r.status_code == 422


class TestDatabaseDown:
    """With PostgreSQL unreachable the API answers 503 with a stable code, never 500."""

    async def test_ready_and_protected_routes_answer_503(self, make_app: Any) -> None:
        from authflow import devdb

        dead = f"postgresql://nobody@127.0.0.1:{devdb.free_port()}/none"
        app = make_app(database_url=dead)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="https://testserver") as c,
        ):
            r = await c.get("/api/ready")
            assert r.status_code == 503
            assert r.json()["code"] == "DATABASE_UNAVAILABLE"
            assert (await c.get("/api/health")).status_code == 200

            r = await c.post("/token", data={"username": "someone", "password": "whatever1"})
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "DATABASE_UNAVAILABLE"

            # The keys could not be loaded at start: the JWKS and any token make the ring
            # try again, which fails like every other database call.
            assert (await c.get("/.well-known/jwks.json")).status_code == 503
            signing = SigningKey.generate()
            token = KeyRing(
                issuer=app.state.settings.jwt_issuer,
                audience=app.state.settings.jwt_audience,
                load=app.state.keys._load,
                secret=app.state.keys.secret,
            )
            token.install(KeySet(signing=signing, verify=(signing.verify_key(),)))
            bearer = token.issue_access_token(
                subject=uuid.uuid4(),
                session_id=uuid.uuid4(),
                now=utc_now(),
                ttl=timedelta(minutes=5),
            )
            r = await c.get("/users/me/", headers={"Authorization": f"Bearer {bearer}"})
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "DATABASE_UNAVAILABLE"
            # With the key known, the session lookup is what fails.
            app.state.keys.install(KeySet(signing=signing, verify=(signing.verify_key(),)))
            r = await c.get("/users/me/", headers={"Authorization": f"Bearer {bearer}"})
            assert r.status_code == 503, r.text


class TestDatabaseRestart:
    async def test_requests_fail_with_503_while_down_and_recover_after(
        self, make_app: Any, tmp_path: Any
    ) -> None:
        from alembic import command
        from alembic.config import Config

        from authflow import devdb
        from tests.conftest import BACKEND, client_for

        pgdata = tmp_path / "pg"
        port = devdb.free_port()
        devdb.init_cluster(pgdata, fast_unsafe=True)
        try:
            devdb.start(pgdata, port)
            app = make_app(database_url=devdb.url(port))
            config = Config(str(BACKEND / "alembic.ini"))
            config.attributes["database_url"] = app.state.settings.async_database_url
            config.attributes["configure_logger"] = False
            await asyncio.to_thread(command.upgrade, config, "head")
            async with app.router.lifespan_context(app), client_for(app) as c:
                r = await c.post(
                    "/api/auth/signup",
                    json={"username": "restart", "email": "r@example.com", "password": "pw long 1"},
                )
                assert r.status_code == 201, r.text
                me = {"Authorization": "Bearer " + c.cookies["__Host-authflow_access"]}
                assert (await c.get("/users/me/", headers=me)).status_code == 200

                devdb.stop(pgdata)
                down = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                async with httpx.AsyncClient(transport=down, base_url="https://t") as d:
                    for _ in range(3):
                        r = await d.get("/users/me/", headers=me)
                        assert r.status_code == 503, r.text
                        assert r.json()["code"] == "DATABASE_UNAVAILABLE"

                devdb.start(pgdata, port)
                # Pooled connections died with the server; the API recovers by itself.
                statuses = [(await c.get("/users/me/", headers=me)).status_code for _ in range(3)]
                assert statuses[-1] == 200, statuses
                assert 500 not in statuses
        finally:
            devdb.stop(pgdata)

"""/token (the tutorial's OAuth2 password grant) and /api/auth/* (the browser's)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.kit.clock import utc_now
from authflow.kit.jwt import SigningKey
from tests.conftest import AccountFactory, client_for

PASSWORD = "correct horse battery staple"


class TestTutorialContract:
    """The calls exactly as the tutorial's text makes them."""

    @pytest.mark.parametrize("path", ["/users/", "/users"])
    async def test_json_signup_then_form_login_then_me(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        r = await client.post(path, json={"username": "johndoe", "password": PASSWORD})
        assert r.status_code == 200, r.text
        created = r.json()
        assert created["username"] == "johndoe"
        assert uuid.UUID(created["id"])
        assert created["email"] is None
        assert "hashed_password" not in created

        r = await client.post("/token", data={"username": "johndoe", "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 900
        assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}

        for me in ("/users/me/", "/users/me"):
            r = await client.get(me, headers={"Authorization": f"Bearer {body['access_token']}"})
            assert r.status_code == 200, r.text
            me_body = r.json()
            assert me_body["username"] == "johndoe"
            assert me_body["disabled"] is False
            assert me_body["full_name"] is None
            assert "email" in me_body

    async def test_token_accepts_email_trailing_slash_and_grant_type(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        account = await accounts.signup("Mary", email="Mary.Major@Example.com")
        r = await client.post(
            "/token/",
            data={
                "username": "mary.major@example.COM",
                "password": PASSWORD,
                "grant_type": "password",
            },
        )
        assert r.status_code == 200, r.text
        r = await client.post("/token", data={"username": "MARY", "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert account["username"] == "Mary"

    async def test_items_are_the_users_notes(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        account, headers = await accounts.bearer()
        r = await client.post("/api/notes", json={"text": "buy milk"}, headers=headers)
        assert r.status_code == 201
        for path in ("/users/me/items/", "/users/me/items"):
            r = await client.get(path, headers=headers)
            assert r.status_code == 200
            items = r.json()
            assert [(i["text"], i["owner"]) for i in items] == [("buy milk", account["username"])]
            assert uuid.UUID(items[0]["item_id"])

    async def test_no_redirects_anywhere(self, client: httpx.AsyncClient) -> None:
        for method, path in (("POST", "/users"), ("POST", "/token/"), ("GET", "/users/me")):
            r = await client.request(method, path)
            assert r.status_code not in (301, 302, 307, 308)

    async def test_unsupported_grant_type_is_rfc6749_error(self, client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/token", data={"username": "x", "password": "y", "grant_type": "client_credentials"}
        )
        assert r.status_code == 400
        assert r.json()["error"] == "unsupported_grant_type"
        assert r.json()["code"] == "UNSUPPORTED_GRANT_TYPE"

    @pytest.mark.parametrize(
        "data",
        [{}, {"username": "a"}, {"password": "a"}, {"username": "", "password": ""}],
    )
    async def test_token_missing_fields_is_422(
        self, client: httpx.AsyncClient, data: dict[str, str]
    ) -> None:
        r = await client.post("/token", data=data)
        assert r.status_code == 422
        assert r.json()["code"] == "VALIDATION_ERROR"


class TestBadCredentials:
    async def _failures(
        self, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine
    ) -> list[httpx.Response]:
        await accounts.signup("alice")
        await accounts.signup("disabled_dan")
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE users SET is_active = false WHERE username = 'disabled_dan'")
            )
        return [
            await client.post("/token", data={"username": "nobody", "password": PASSWORD}),
            await client.post("/token", data={"username": "alice", "password": "wrong password!"}),
            await client.post("/token", data={"username": "disabled_dan", "password": PASSWORD}),
        ]

    async def test_token_failures_are_identical(
        self, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine
    ) -> None:
        responses = await self._failures(client, accounts, engine)
        for r in responses:
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.headers["cache-control"] == "no-store"
        bodies = {r.content for r in responses}
        assert len(bodies) == 1
        body = responses[0].json()
        assert body["code"] == "LOGIN_BAD_CREDENTIALS"
        assert body["error"] == "invalid_grant"
        # Apart from the request id, which is each request's own.
        header_sets = {
            tuple(
                sorted(
                    (k, v)
                    for k, v in r.headers.items()
                    if k not in ("content-length", "x-request-id")
                )
            )
            for r in responses
        }
        assert len(header_sets) == 1

    async def test_json_login_failures_are_identical(
        self, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine
    ) -> None:
        await self._failures(client, accounts, engine)
        responses = [
            await client.post("/api/auth/login", json={"login": login, "password": pw})
            for login, pw in (
                ("nobody", PASSWORD),
                ("alice", "wrong password!"),
                ("disabled_dan", PASSWORD),
                ("nobody@example.com", PASSWORD),
            )
        ]
        assert {r.status_code for r in responses} == {401}
        assert len({r.content for r in responses}) == 1
        assert responses[0].json()["code"] == "LOGIN_BAD_CREDENTIALS"
        assert all(r.headers["www-authenticate"] == "Bearer" for r in responses)
        assert all("set-cookie" not in r.headers for r in responses)


class TestBrowserLogin:
    async def test_login_sets_host_cookie_and_cookie_authenticates(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        await accounts.signup("carol", email="carol@example.com")
        r = await client.post(
            "/api/auth/login", json={"login": "CAROL@example.com", "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        assert r.json()["username"] == "carol"
        access, refresh, csrf, signed_in, device = r.headers.get_list("set-cookie")
        # The browser's device cookie (new sign-in notices): tested in tests/device.
        assert device.startswith("__Host-authflow_device=")
        assert csrf.startswith("__Host-authflow_csrf=")
        assert "httponly" not in csrf.lower()  # read by the page, echoed in a header
        assert signed_in.startswith("__Host-authflow_signed_in=1;")
        assert "httponly" in signed_in.lower()
        assert access.startswith("__Host-authflow_access=")
        for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/;"):
            assert attribute.lower() in access.lower() + ";"
        # Without remember-me both are browser-session cookies.
        assert "max-age" not in access.lower()
        assert "domain" not in access.lower()
        assert refresh.startswith("__Secure-authflow_refresh=")
        for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/api/auth"):
            assert attribute.lower() in refresh.lower()
        assert "max-age" not in refresh.lower()
        assert r.headers["cache-control"] == "no-store"

        r = await client.get("/api/users/me")
        assert r.status_code == 200
        assert r.json()["username"] == "carol"

    async def test_signup_signs_in(self, client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/api/auth/signup",
            json={"username": "dave", "email": "dave@example.com", "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
        assert r.headers["set-cookie"].startswith("__Host-authflow_access=")
        me = await client.get("/api/users/me")
        assert me.json()["email"] == "dave@example.com"

    async def test_logout_revokes_session_for_cookie_and_bearer(
        self, app: FastAPI, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        await accounts.signup("erin")
        await client.post("/api/auth/login", json={"login": "erin", "password": PASSWORD})
        token = client.cookies.get("__Host-authflow_access")
        assert token
        r = await client.post("/api/auth/logout")
        assert r.status_code == 204
        assert (
            "Max-Age=0" in r.headers["set-cookie"] or "expires=" in r.headers["set-cookie"].lower()
        )
        # The same token, replayed by hand after logout, is refused.
        async with client_for(app) as other:
            r = await other.get("/users/me/", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        assert r.json()["code"] == "NOT_AUTHENTICATED"

    async def test_logout_of_bearer_session(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        _, headers = await accounts.bearer()
        assert (await client.post("/api/auth/logout", headers=headers)).status_code == 204
        assert (await client.get("/users/me/", headers=headers)).status_code == 401

    async def test_logout_without_session_still_succeeds(self, client: httpx.AsyncClient) -> None:
        assert (await client.post("/api/auth/logout")).status_code == 204
        r = await client.post("/api/auth/logout", headers={"Authorization": "Bearer garbage"})
        assert r.status_code == 204

    async def test_disabled_user_is_refused_on_next_request(
        self, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine
    ) -> None:
        account, headers = await accounts.bearer()
        assert (await client.get("/users/me/", headers=headers)).status_code == 200
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE users SET is_active = false WHERE id = :id"), {"id": account["id"]}
            )
        assert (await client.get("/users/me/", headers=headers)).status_code == 401

    async def test_revoked_session_is_refused(
        self, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine
    ) -> None:
        _, headers = await accounts.bearer()
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE user_sessions SET revoked_at = now()"))
        assert (await client.get("/users/me/", headers=headers)).status_code == 401

    async def test_session_row_records_client(
        self, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine
    ) -> None:
        await accounts.signup("frank")
        await client.post(
            "/api/auth/login",
            json={"login": "frank", "password": PASSWORD, "remember_me": True},
            headers={"User-Agent": "TestAgent/1.0"},
        )
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT s.ip, s.user_agent, s.remember_me,"
                        " s.expires_at - s.created_at AS life"
                        " FROM user_sessions s JOIN users u ON u.id = s.user_id"
                        " WHERE u.username = 'frank' AND s.user_agent = 'TestAgent/1.0'"
                    )
                )
            ).one()
        assert row.ip == "203.0.113.7"
        assert row.remember_me is True
        assert row.life == timedelta(days=30)


class TestClientAddress:
    async def test_a_peer_address_that_is_not_an_ip_is_not_stored(
        self, app: FastAPI, accounts: AccountFactory, engine: AsyncEngine
    ) -> None:
        # What uvicorn reports as the client can come from a proxy header; garbage there
        # must neither fail the login nor be recorded.
        account = await accounts.signup()
        transport = httpx.ASGITransport(app=app, client=("x" * 100, 1))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            r = await c.post(
                "/api/auth/login", json={"login": account["username"], "password": PASSWORD}
            )
        assert r.status_code == 200
        async with engine.connect() as conn:
            ips = (await conn.execute(text("SELECT ip FROM user_sessions"))).scalars().all()
        assert None in ips
        assert all(ip in (None, "203.0.113.7") for ip in ips)


class TestLoginInput:
    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"login": "x"},
            {"password": "x"},
            {"login": "", "password": "x"},
            {"login": "x" * 321, "password": "x"},
            {"login": "x", "password": "p" * 4097},
            {"login": ["x"], "password": "x"},
            {"login": "a\u0000b", "password": "x"},
            {"login": "x", "password": "y", "remember_me": "maybe"},
        ],
    )
    async def test_bad_bodies_are_422(
        self, client: httpx.AsyncClient, body: dict[str, object]
    ) -> None:
        r = await client.post("/api/auth/login", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "VALIDATION_ERROR"
        assert r.json()["errors"]

    @pytest.mark.parametrize(
        "raw", [b'{"login": "x", "password": "\\ud800"}', b'{"login": "\\udfff", "password": "x"}']
    )
    async def test_lone_surrogates_are_422(self, client: httpx.AsyncClient, raw: bytes) -> None:
        r = await client.post(
            "/api/auth/login", content=raw, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "VALIDATION_ERROR"

    async def test_not_json_is_422(self, client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/api/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422
        r = await client.post(
            "/api/auth/login", content=b"\xff\xfe", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422

    async def test_sql_injection_is_just_a_wrong_login(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        await accounts.signup("grace")
        for login in ("' OR '1'='1", "grace' --", "grace'; DROP TABLE users; --"):
            r = await client.post(
                "/api/auth/login", json={"login": login, "password": "' OR '1'='1"}
            )
            assert r.status_code == 401
        assert (
            await client.post("/api/auth/login", json={"login": "grace", "password": PASSWORD})
        ).status_code == 200


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class TestTokenVerification:
    async def _claims(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> tuple[str, dict[str, object], dict[str, object]]:
        _, headers = await accounts.bearer()
        token = headers["Authorization"].removeprefix("Bearer ")
        return (
            token,
            jwt.get_unverified_header(token),
            jwt.decode(token, options={"verify_signature": False}),
        )

    async def _refused(self, client: httpx.AsyncClient, token: str) -> None:
        r = await client.get("/users/me/", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
        assert r.json()["code"] == "NOT_AUTHENTICATED"
        assert r.headers["www-authenticate"].startswith("Bearer")

    async def test_token_shape(self, client: httpx.AsyncClient, accounts: AccountFactory) -> None:
        _, header, claims = await self._claims(client, accounts)
        assert header["alg"] == "EdDSA"
        assert header["typ"] == "at+jwt"
        assert header["kid"]
        assert set(claims) == {"iss", "aud", "sub", "sid", "iat", "exp", "jti"}
        assert claims["exp"] - claims["iat"] == 900  # type: ignore[operator]

    async def test_jwks_verifies_token(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        token, header, _ = await self._claims(client, accounts)
        jwks = (await client.get("/.well-known/jwks.json")).json()
        key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
        assert set(key) >= {"kty", "crv", "x", "kid", "alg"} and "d" not in key
        public = jwt.PyJWK(key).key
        claims = jwt.decode(token, public, algorithms=["EdDSA"], audience="authflow-api")
        assert claims["iss"] == "authflow"

    async def test_tampered_token(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        token, _, claims = await self._claims(client, accounts)
        head, _, sig = token.split(".")
        forged = {**claims, "sub": str(uuid.uuid4())}
        await self._refused(client, f"{head}.{_b64(forged)}.{sig}")
        await self._refused(client, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))

    async def test_alg_none(self, client: httpx.AsyncClient, accounts: AccountFactory) -> None:
        _, header, claims = await self._claims(client, accounts)
        await self._refused(client, f"{_b64({**header, 'alg': 'none'})}.{_b64(claims)}.")

    async def test_hs256_with_public_key_as_secret(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        _, header, claims = await self._claims(client, accounts)
        # The classic confusion attack: sign HS256 with the published public key as secret.
        jwks = (await client.get("/.well-known/jwks.json")).json()
        public_bytes = base64.urlsafe_b64decode(jwks["keys"][0]["x"] + "==")
        head = _b64({"alg": "HS256", "kid": header["kid"], "typ": "at+jwt"})
        body = _b64(claims)
        sig = hmac.new(public_bytes, f"{head}.{body}".encode(), hashlib.sha256).digest()
        forged = f"{head}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"
        await self._refused(client, forged)

    async def test_wrong_key(self, client: httpx.AsyncClient, accounts: AccountFactory) -> None:
        _, header, claims = await self._claims(client, accounts)
        other = SigningKey.generate()
        await self._refused(
            client,
            jwt.encode(
                claims,
                other.private_key,
                algorithm="EdDSA",
                headers={"kid": header["kid"], "typ": "at+jwt"},
            ),
        )
        await self._refused(
            client,
            jwt.encode(
                claims,
                other.private_key,
                algorithm="EdDSA",
                headers={"kid": other.kid, "typ": "at+jwt"},
            ),
        )

    async def test_wrong_audience_issuer_type_and_expired(
        self, app: FastAPI, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        _, _, claims = await self._claims(client, accounts)
        signing = app.state.keys.signing

        def sign(c: dict[str, object], typ: str = "at+jwt") -> str:
            return jwt.encode(
                c, signing.private_key, algorithm="EdDSA", headers={"kid": signing.kid, "typ": typ}
            )

        assert (
            await client.get("/users/me/", headers={"Authorization": f"Bearer {sign(claims)}"})
        ).status_code == 200
        await self._refused(client, sign({**claims, "aud": "another-api"}))
        await self._refused(client, sign({**claims, "iss": "someone-else"}))
        await self._refused(client, sign(claims, typ="JWT"))
        past = int((utc_now() - timedelta(hours=1)).timestamp())
        await self._refused(client, sign({**claims, "exp": past, "iat": past - 900}))
        no_sid = {k: v for k, v in claims.items() if k != "sid"}
        await self._refused(client, sign(no_sid))
        await self._refused(client, sign({**claims, "sid": "not-a-uuid"}))
        await self._refused(client, sign({**claims, "sid": str(uuid.uuid4())}))

    @pytest.mark.parametrize(
        "authorization",
        [
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Bearer a.b.c",
            "Bearer " + "x" * 5000,
            "bearer \u00e9",
        ],
    )
    async def test_malformed_headers(self, client: httpx.AsyncClient, authorization: str) -> None:
        r = await client.get("/users/me/", headers={"Authorization": authorization.encode("utf-8")})
        assert r.status_code == 401
        assert r.json()["code"] == "NOT_AUTHENTICATED"

    async def test_garbage_cookie(self, client: httpx.AsyncClient) -> None:
        client.cookies.set("__Host-authflow_access", "not-a-jwt", domain="testserver")
        r = await client.get("/api/users/me")
        assert r.status_code == 401


class TestLastSeen:
    async def test_last_seen_is_refreshed_when_stale(
        self, client: httpx.AsyncClient, accounts: AccountFactory, engine: AsyncEngine
    ) -> None:
        _, headers = await accounts.bearer()
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE user_sessions SET last_seen_at = now() - interval '1 hour'")
            )
        assert (await client.get("/users/me/", headers=headers)).status_code == 200
        async with engine.connect() as conn:
            age = (
                await conn.execute(text("SELECT min(now() - last_seen_at) FROM user_sessions"))
            ).scalar_one()
        assert age < timedelta(minutes=1)

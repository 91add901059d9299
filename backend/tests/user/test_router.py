"""Sign-up (tutorial /users/ and /api/auth/signup) validation, and /api/users/me."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.models import User

PASSWORD = "correct horse battery staple"


def signup_body(**overrides: Any) -> dict[str, Any]:
    return {"username": "heidi", "email": "heidi@example.com", "password": PASSWORD, **overrides}


async def user_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(User))).scalar_one())


class TestSignupValidation:
    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"username": ""}, "username"),
            ({"username": "ab"}, "username"),
            ({"username": "x" * 33}, "username"),
            ({"username": "x" * 10_000}, "username"),
            ({"username": "has space"}, "username"),
            ({"username": "has@sign"}, "username"),
            ({"username": "tab\there"}, "username"),
            ({"username": "nul\u0000"}, "username"),
            ({"username": "zero\u200bwidth"}, "username"),
            ({"username": "<script>"}, "username"),
            ({"username": "robert'); DROP TABLE users;--"}, "username"),
            ({"username": None}, "username"),
            ({"username": 12345}, "username"),
            ({"email": "not-an-email"}, "email"),
            ({"email": ""}, "email"),
            ({"email": "a@b"}, "email"),
            ({"email": "x" * 310 + "@example.com"}, "email"),
            ({"password": ""}, "password"),
            ({"full_name": "x" * 201}, "full_name"),
        ],
    )
    async def test_invalid_fields(
        self, client: httpx.AsyncClient, engine: AsyncEngine, overrides: dict[str, Any], field: str
    ) -> None:
        r = await client.post("/api/auth/signup", json=signup_body(**overrides))
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == "VALIDATION_ERROR"
        assert field in {e["field"] for e in body["errors"]}
        assert body["detail"]
        assert await user_count(engine) == 0

    async def test_lone_surrogate_password(self, client: httpx.AsyncClient) -> None:
        raw = b'{"username": "heidi", "email": "heidi@example.com", "password": "abc\\ud83dxyz12"}'
        r = await client.post(
            "/api/auth/signup", content=raw, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "password"

    async def test_email_whose_canonical_form_is_too_long(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        # Valid to email-validator, 76 characters, but NFKC turns it into 1,164.
        r = await client.post(
            "/api/auth/signup", json=signup_body(email="\ufdfa" * 64 + "@example.com")
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "email"
        assert await user_count(engine) == 0

    @pytest.mark.parametrize("username", ["İlker", "अनिल", "josé.m", "Ωmega_7", "user-01"])
    async def test_usernames_in_any_script(self, client: httpx.AsyncClient, username: str) -> None:
        r = await client.post(
            "/api/auth/signup", json=signup_body(username=username, email="x1@example.com")
        )
        assert r.status_code == 201, r.text
        assert r.json()["username"] == username

    async def test_missing_everything(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/auth/signup", json={})
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {"username", "email", "password"}

    @pytest.mark.parametrize(
        ("password", "code"),
        [
            ("short1!", "PASSWORD_TOO_SHORT"),
            ("p" * 1025, "PASSWORD_TOO_LONG"),
            ("password", "PASSWORD_TOO_COMMON"),
            ("Password", "PASSWORD_TOO_COMMON"),
            ("qwertyuiop", "PASSWORD_TOO_COMMON"),
            ("iloveyou", "PASSWORD_TOO_COMMON"),
            ("my-heidi-password-2026", "PASSWORD_CONTAINS_USER_INFO"),
            ("HEIDI_is_great_99", "PASSWORD_CONTAINS_USER_INFO"),
        ],
    )
    async def test_password_policy(
        self, client: httpx.AsyncClient, engine: AsyncEngine, password: str, code: str
    ) -> None:
        r = await client.post("/api/auth/signup", json=signup_body(password=password))
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == code
        assert body["errors"][0]["field"] == "password"
        assert await user_count(engine) == 0

    async def test_password_contains_email_local_part(self, client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/api/auth/signup",
            json=signup_body(email="sunny.days@example.com", password="sunny.days forever!"),
        )
        assert r.json()["code"] == "PASSWORD_CONTAINS_USER_INFO"

    async def test_long_unicode_password_is_fine_and_not_truncated(
        self, client: httpx.AsyncClient
    ) -> None:
        password = "ü" * 1024
        r = await client.post("/api/auth/signup", json=signup_body(password=password))
        assert r.status_code == 201, r.text
        # bcrypt would truncate at 72 bytes; Argon2id must not.
        ok = await client.post("/token", data={"username": "heidi", "password": password})
        assert ok.status_code == 200
        near = await client.post("/token", data={"username": "heidi", "password": "ü" * 1023 + "u"})
        assert near.status_code == 401

    async def test_minimum_length_is_configurable(self, make_app: Any) -> None:
        from tests.conftest import client_for

        app = make_app(password_min_length=12)
        async with app.router.lifespan_context(app), client_for(app) as c:
            r = await c.post("/api/auth/signup", json=signup_body(password="eleven chrs"))
            assert r.json()["code"] == "PASSWORD_TOO_SHORT"
            assert "12" in r.json()["detail"]


class TestUniqueness:
    @pytest.mark.parametrize("other", ["HEIDI", "Heidi", "ｈｅｉｄｉ", " heidi "])
    async def test_duplicate_username_in_another_case_or_width(
        self, client: httpx.AsyncClient, engine: AsyncEngine, other: str
    ) -> None:
        assert (await client.post("/api/auth/signup", json=signup_body())).status_code == 201
        r = await client.post(
            "/api/auth/signup", json=signup_body(username=other, email="other@example.com")
        )
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "USERNAME_TAKEN"
        assert await user_count(engine) == 1

    async def test_duplicate_email_in_another_case(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        assert (await client.post("/api/auth/signup", json=signup_body())).status_code == 201
        r = await client.post(
            "/api/auth/signup", json=signup_body(username="heidi2", email="HEIDI@Example.COM")
        )
        assert r.status_code == 409
        assert r.json()["code"] == "EMAIL_TAKEN"
        assert await user_count(engine) == 1

    async def test_tutorial_route_duplicate(self, client: httpx.AsyncClient) -> None:
        body = {"username": "ivan", "password": PASSWORD}
        assert (await client.post("/users/", json=body)).status_code == 200
        r = await client.post("/users/", json={**body, "username": "IVAN"})
        assert r.status_code == 409
        assert r.json()["code"] == "USERNAME_TAKEN"

    async def test_password_is_stored_as_argon2id(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await client.post("/api/auth/signup", json=signup_body())
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT hashed_password FROM users"))).scalar_one()
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert PASSWORD not in stored


async def create_legacy_user(
    client: httpx.AsyncClient, engine: AsyncEngine, username: str, password: str
) -> None:
    """A user whose stored hash is bcrypt, as imported from the tutorial's database."""
    import bcrypt

    await client.post("/users/", json={"username": username, "password": PASSWORD})
    legacy = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET hashed_password = :h WHERE username = :u"),
            {"h": legacy, "u": username},
        )


class TestLegacyHashes:
    async def test_bcrypt_hash_logs_in_and_is_upgraded(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await create_legacy_user(client, engine, "legacy", "secret-from-2019")
        r = await client.post("/token", data={"username": "legacy", "password": "secret-from-2019"})
        assert r.status_code == 200, r.text
        async with engine.connect() as conn:
            stored = (
                await conn.execute(
                    text("SELECT hashed_password FROM users WHERE username='legacy'")
                )
            ).scalar_one()
        assert stored.startswith("$argon2id$")
        again = await client.post(
            "/token", data={"username": "legacy", "password": "secret-from-2019"}
        )
        assert again.status_code == 200
        wrong = await client.post("/token", data={"username": "legacy", "password": "nope-nope"})
        assert wrong.status_code == 401

    async def test_long_password_against_bcrypt_hash_is_a_plain_401(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        await create_legacy_user(client, engine, "legacy2", "secret-from-2019")
        long_pw = await client.post("/token", data={"username": "legacy2", "password": "p" * 100})
        unknown = await client.post("/token", data={"username": "nobody", "password": "p" * 100})
        assert long_pw.status_code == unknown.status_code == 401
        assert long_pw.content == unknown.content


class TestMe:
    async def test_requires_auth(self, client: httpx.AsyncClient) -> None:
        for path in ("/api/users/me", "/users/me/", "/users/me/items/"):
            r = await client.get(path)
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json() == {"code": "NOT_AUTHENTICATED", "detail": "Not authenticated"}

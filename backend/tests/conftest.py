"""One real PostgreSQL for the whole run, migrated with Alembic; tables emptied per test."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from authflow import devdb
from authflow.config import REPO_ROOT, Settings
from authflow.db import autocommit as autocommit_engine
from authflow.main import create_app

BACKEND = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DATABASE_URL from the environment if given (CI with a managed server), else a
    throwaway embedded cluster under var/."""
    given = os.environ.get("AUTHFLOW_TEST_DATABASE_URL")
    if given:
        yield given
        return
    pgdata = REPO_ROOT / "var" / f"test-postgres-{os.getpid()}"
    shutil.rmtree(pgdata, ignore_errors=True)
    port = devdb.free_port()
    try:
        devdb.init_cluster(pgdata, fast_unsafe=True)
        devdb.start(pgdata, port)
        yield devdb.url(port)
    finally:
        devdb.stop(pgdata)
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        keys_dir=tmp_path_factory.mktemp("keys"),
        web_origin="http://localhost:3000",
        # The shared app sends no email; tests of email start an app with a worker.
        outbox_worker=False,
    )


@pytest.fixture(scope="session")
def migrated(settings: Settings) -> None:
    config = Config(str(BACKEND / "alembic.ini"))
    config.attributes["database_url"] = settings.async_database_url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


@pytest.fixture(scope="session")
async def engine(settings: Settings, migrated: None) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(settings.async_database_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def scratch_database_url(settings: Settings, engine: AsyncEngine) -> AsyncIterator[str]:
    """A freshly migrated database of its own, for tests that need tables the shared app
    must not see emptied (signing keys) or an app of their own."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    async with autocommit_engine(engine).connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    url = settings.async_database_url.rsplit("/", 1)[0] + "/" + name
    config = Config(str(BACKEND / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    await asyncio.to_thread(command.upgrade, config, "head")
    try:
        yield url.replace("postgresql+asyncpg://", "postgresql://")
    finally:
        async with autocommit_engine(engine).connect() as conn:
            await conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "engine" in request.fixturenames:
        eng: AsyncEngine = request.getfixturevalue("engine")
        async with eng.begin() as conn:
            await conn.execute(
                text(
                    "TRUNCATE users, user_sessions, spent_refresh_tokens, notes, email_tokens,"
                    " email_outbox CASCADE"
                )
            )


async def _running_app(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def app(settings: Settings, migrated: None) -> AsyncIterator[FastAPI]:
    async for running in _running_app(create_app(settings)):
        yield running


@pytest.fixture
def make_app(settings: Settings, migrated: None) -> Callable[..., Any]:
    """An app with some settings changed, for tests of configuration."""

    def _make(**overrides: Any) -> FastAPI:
        return create_app(settings.model_copy(update=overrides))

    return _make


async def _echo_csrf_cookie(request: httpx.Request) -> None:
    """What the web app's fetch wrapper does: copy the CSRF cookie into the header."""
    if request.method in ("GET", "HEAD", "OPTIONS") or "x-csrf-token" in request.headers:
        return
    for part in request.headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "__Host-authflow_csrf":
            request.headers["X-CSRF-Token"] = value


def client_for(app: FastAPI, *, csrf: bool = True) -> httpx.AsyncClient:
    # https so the client's cookie jar sends our Secure cookies back. ``csrf=False`` for
    # a client that, like a forged cross-site request, does not echo the CSRF token.
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 51000)),
        base_url="https://testserver",
        event_hooks={"request": [_echo_csrf_cookie] if csrf else []},
    )


@pytest.fixture
async def client(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


@dataclass
class AccountFactory:
    app: FastAPI
    client: httpx.AsyncClient

    async def signup(
        self,
        username: str | None = None,
        password: str = "correct horse battery staple",
        email: str | None = None,
    ) -> dict[str, Any]:
        username = username or f"user_{uuid.uuid4().hex[:8]}"
        email = email or f"{username}@example.com"
        async with client_for(self.app) as fresh:
            r = await fresh.post(
                "/api/auth/signup",
                json={"username": username, "email": email, "password": password},
            )
        assert r.status_code == 201, r.text
        return {**r.json(), "password": password}

    async def token(self, login: str, password: str = "correct horse battery staple") -> str:
        r = await self.client.post("/token", data={"username": login, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    async def bearer(self, username: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
        account = await self.signup(username)
        token = await self.token(account["username"], account["password"])
        return account, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def accounts(app: FastAPI, client: httpx.AsyncClient) -> AccountFactory:
    return AccountFactory(app, client)

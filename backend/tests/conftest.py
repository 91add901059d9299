"""One real PostgreSQL for the whole run, migrated with Alembic; tables emptied per test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from authflow import devdb, logs
from authflow.config import REPO_ROOT, Settings
from authflow.db import autocommit as autocommit_engine
from authflow.kit.server_secret import DEV_SECRET_FILE
from authflow.main import create_app

BACKEND = Path(__file__).resolve().parents[1]


# -- No secret reaches the logs --------------------------------------------------------
# Every record logged during the run is kept twice: as emitted (before redaction, so the
# check also catches code that logs a secret the filter happens to hide) and as our
# handler would write it. At the end, none may contain a password or token the tests sent
# or received, the server secret, a JWT, or a `token=` query value.

# The suite's passwords (grep PASSWORD); values seen on the wire are added as they go by.
KNOWN_SECRETS: set[str] = {"correct horse battery staple", "purple elephant skates daily"}
_SECRET_FIELDS = frozenset(
    {
        "password",
        "new_password",
        "current_password",
        "token",
        "refresh_token",
        "access_token",
        "mfa_token",
        "secret",
        "otpauth_uri",
        "recovery_codes",
    }
)
_SECRET_COOKIES = (
    "__Host-authflow_access",
    "__Secure-authflow_refresh",
    "__Host-authflow_csrf",
    "__Secure-authflow_2fa",
)
# Shorter values ("wrong", "x") occur in ordinary text, and so does filler ("x" * 5000
# sent to test limits); every real password and token here is longer and more varied.
_MIN_SECRET_LENGTH = 10
_MIN_DISTINCT_CHARACTERS = 5
_SETTINGS_USED: list[Settings] = []
_JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]{8,}")
_TOKEN_IN_QUERY = re.compile(r"[?&][\w-]*token=(?!\[REDACTED\])[^&\s\"'\\]+", re.IGNORECASE)
# The test client's own request log (it prints the URLs the tests call, queries and all):
# the test's side of the wire, not the API's. The API itself does not use httpx.
_CLIENT_SIDE_LOGGERS = ("httpx", "httpcore")


def find_leaks(lines: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """What in ``lines`` is a secret: a known value, a JWT, a token in a query string."""
    secrets = [s for s in secrets if s]
    leaks = []
    for line in lines:
        for secret in secrets:
            if secret in line:
                leaks.append(f"secret {secret[:4]}... in: {line[:300]}")
        if _JWT_SHAPED.search(line):
            leaks.append(f"JWT in: {line[:300]}")
        if _TOKEN_IN_QUERY.search(line):
            leaks.append(f"token= in: {line[:300]}")
    return leaks


def _remember(value: object) -> None:
    if (
        isinstance(value, str)
        and len(value) >= _MIN_SECRET_LENGTH
        and len(set(value)) >= _MIN_DISTINCT_CHARACTERS
    ):
        KNOWN_SECRETS.add(value)


def _remember_fields(data: object) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in _SECRET_FIELDS:
                for item in value if isinstance(value, list) else [value]:
                    _remember(item)
            _remember_fields(value)
    elif isinstance(data, list):
        for item in data:
            _remember_fields(item)


async def _remember_sent_secrets(request: httpx.Request) -> None:
    try:
        body = request.content
    except httpx.RequestNotRead:
        return
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        # Tests also send bodies nothing can parse (nesting thousands deep).
        with contextlib.suppress(ValueError, RecursionError):
            _remember_fields(json.loads(body))
    elif content_type.startswith("application/x-www-form-urlencoded"):
        _remember_fields(dict(parse_qsl(body.decode("latin-1"))))


async def _remember_received_secrets(response: httpx.Response) -> None:
    for cookie in response.headers.get_list("set-cookie"):
        name, _, rest = cookie.partition("=")
        if name in _SECRET_COOKIES:
            _remember(rest.split(";", 1)[0])
    if response.headers.get("content-type", "").startswith("application/json"):
        await response.aread()
        with contextlib.suppress(ValueError):
            _remember_fields(response.json())


def _server_secrets() -> set[str]:
    found = set()
    for used in _SETTINGS_USED:
        if used.secret_key is not None:
            found.add(used.secret_key.get_secret_value())
        elif (used.keys_dir / DEV_SECRET_FILE).exists():
            found.add((used.keys_dir / DEV_SECRET_FILE).read_text().strip())
    return found


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.raw: list[str] = []
        self.written: list[str] = []
        self._text = logging.Formatter("%(name)s %(levelname)s %(message)s")
        self._json = logs.json_formatter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_CLIENT_SIDE_LOGGERS):
            return
        try:
            extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD_ATTRS}
            # Marked to show its link in development (the console mail backend): only
            # what our handler writes elsewhere counts.
            if not extras.get("authflow_unredacted"):
                self.raw.append(self._text.format(record) + " " + repr(extras))
            copy = logging.makeLogRecord(dict(vars(record)))
            logs.RedactSecrets().filter(copy)
            self.written.append(self._json.format(copy))
        except Exception:
            self.handleError(record)


_STANDARD_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@pytest.fixture(scope="session", autouse=True)
def _no_secrets_in_logs() -> Iterator[None]:
    capture = _LogCapture()
    root = logging.getLogger()
    # First in line, so it sees each record before any handler's filter rewrites it.
    root.handlers.insert(0, capture)
    previous_level = root.level
    root.setLevel(min(previous_level, logging.INFO) or logging.INFO)
    # aiosmtpd (the email tests' SMTP server) chatters at INFO from its own thread, where
    # pytest's output capture does not reach.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(capture)
        root.setLevel(previous_level)
    secrets = KNOWN_SECRETS | _server_secrets()
    leaks = find_leaks(capture.raw, secrets) + find_leaks(capture.written, secrets)
    assert not leaks, f"{len(leaks)} log records contain secrets:\n" + "\n".join(leaks[:20])


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
        # Every test signs up from the same address; tests of throttling lower these.
        signup_per_ip_per_hour=100_000,
        forgot_password_per_ip_per_hour=100_000,
        refresh_per_ip_per_minute=100_000,
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
                    " email_outbox, user_devices, throttle_counters, auth_events CASCADE"
                )
            )


async def _running_app(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def app(settings: Settings, migrated: None) -> AsyncIterator[FastAPI]:
    _SETTINGS_USED.append(settings)
    async for running in _running_app(create_app(settings)):
        yield running


@pytest.fixture
def make_app(settings: Settings, migrated: None) -> Iterator[Callable[..., Any]]:
    """An app with some settings changed, for tests of configuration."""

    def _make(**overrides: Any) -> FastAPI:
        changed = settings.model_copy(update=overrides)
        _SETTINGS_USED.append(changed)
        return create_app(changed)

    yield _make
    # create_app configures logging for its settings; put back the shared app's.
    logs.configure(settings)


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
        event_hooks={
            "request": [_echo_csrf_cookie, _remember_sent_secrets]
            if csrf
            else [_remember_sent_secrets],
            "response": [_remember_received_secrets],
        },
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

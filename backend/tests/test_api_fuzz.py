"""API fuzzing: schemathesis generates requests from our OpenAPI schema, valid and not,
for every operation, and checks each answer: never a 5xx, and always a status code,
content type, body and headers the schema documents for that operation.

Three runs over one app: anonymous (with generated credentials too, which must never
get in); a signed-in user (the browser's cookies and X-CSRF-Token, a new account per
operation, so one that signs out or refreshes does not spoil the next); and, for the
admin routes, an administrator with two-factor, who also acts on a real account.

The app runs in-process on schemathesis's own event loop (its ASGI client starts the
lifespan there), against a database of its own, so the other tests' tables and this
run's never meet. Examples are derandomized: every run sends the same requests.

Not checked, on purpose: that every schema-valid request is accepted (the schema does
not carry the password policy, username rules or token formats, so valid-looking
requests are refused with 422 by design); the 405's Allow header (Starlette lists the
methods of the first route matching the path, not all of them); and that a method a
path lacks is a 405 (DELETE /api/sessions/revoke-others is DELETE
/api/sessions/{session_id} with an id that is not one: a documented 422).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
import schemathesis
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis import Case, checks
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from authflow import logs
from authflow.auth.cookies import ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER, REFRESH_COOKIE
from authflow.config import REPO_ROOT, Settings
from authflow.db import autocommit as autocommit_engine
from authflow.main import create_app
from tests.conftest import BACKEND, KNOWN_SECRETS

# Hypothesis keeps caches (never examples: no database) under var/ with the rest of the
# local state, not in the work tree.
set_hypothesis_home_dir(REPO_ROOT / "var" / "hypothesis")

PASSWORD = "correct horse battery staple"
# https: the session cookies are Secure.
BASE_URL = "https://testserver"
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
# Where the schema says an operation needs a token: a 2xx with none, or with a generated
# one, is a way in.
ANONYMOUS_CHECKS = [*CHECKS, checks.ignored_auth]
# Some 90 seconds for the whole file (the coverage phase's fixed cases come on top of
# these). AUTHFLOW_FUZZ_EXAMPLES=200 for a deeper look by hand.
FUZZ = hypothesis_settings(
    max_examples=int(os.environ.get("AUTHFLOW_FUZZ_EXAMPLES", "15")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _schema_document() -> dict[str, Any]:
    """What the test app serves at /openapi.json. Parametrizing needs it when the tests
    are collected, before any database exists: an app that is never started has it too."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with tempfile.TemporaryDirectory() as keys_dir:
        app = create_app(
            Settings(
                env="test",
                database_url="postgresql://unused@127.0.0.1/unused",
                keys_dir=Path(keys_dir),
            )
        )
        document = app.openapi()
    # create_app configured logging for its settings; collecting must not change it.
    root.handlers[:], root.level = handlers, level
    return document


DOCUMENT = _schema_document()


def _schema(*, security_parameters: bool) -> OpenApiSchema:
    """``security_parameters``: also send generated credentials (an Authorization header)
    where the schema says an operation takes them. The signed-in runs bring their own."""
    config = SchemathesisConfig()
    config.projects.default.generation.update(with_security_parameters=security_parameters)
    return schemathesis.openapi.from_dict(DOCUMENT, config=config)


anonymous = _schema(security_parameters=True)
signed_in = _schema(security_parameters=False)


@dataclass(frozen=True)
class Browser:
    """A signed-in browser's cookies and the CSRF header its pages send."""

    cookies: dict[str, str]
    headers: dict[str, str]


@pytest.fixture(scope="module")
async def fuzz_database_url(settings: Settings, engine: AsyncEngine) -> AsyncIterator[str]:
    name = f"fuzz_{uuid.uuid4().hex[:12]}"
    async with autocommit_engine(engine).connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    url = settings.async_database_url.rsplit("/", 1)[0] + "/" + name
    config = Config(str(BACKEND / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    await asyncio.to_thread(command.upgrade, config, "head")
    try:
        yield url
    finally:
        async with autocommit_engine(engine).connect() as conn:
            await conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))


@pytest.fixture(scope="module")
def fuzz_app(settings: Settings, fuzz_database_url: str) -> Iterator[FastAPI]:
    app = create_app(
        settings.model_copy(
            update={
                "database_url": fuzz_database_url.replace("postgresql+asyncpg://", "postgresql://"),
                # The admin's sign-in must stay recent for the whole run.
                "step_up_window_seconds": 3600,
                # Else every resend within a minute of signing up is a 429, and the
                # route's answer when it does send is never seen.
                "email_resend_interval_seconds": 0,
            }
        )
    )
    try:
        yield app
    finally:
        # Ends the lifespan schemathesis's client started (background tasks, engine).
        asgi.shutdown_lifespans()
        logs.configure(settings)


def _request(app: FastAPI, method: str, path: str, **kwargs: Any) -> Any:
    # The client schemathesis sends the cases with: the same lifespan, the same loop.
    with asgi.get_client(app) as client:  # type: ignore[arg-type]
        return client.request(method, BASE_URL + path, **kwargs)


def _sign_up(app: FastAPI, username: str) -> Any:
    r = _request(
        app,
        "POST",
        "/api/auth/signup",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    assert r.status_code == 201, r.text
    return r


def _browser(response: Any) -> Browser:
    cookies = {
        name: response.cookies[name] for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE)
    }
    KNOWN_SECRETS.update(cookies.values())
    return Browser(cookies=cookies, headers={CSRF_HEADER: cookies[CSRF_COOKIE]})


@pytest.fixture
def user_browser(fuzz_app: FastAPI) -> Browser:
    """A new account per operation: no operation sees what another did to it. (Signing
    up, not in: the fuzzed sign-ins' failures would soon get sign-in throttled.)"""
    browser = _browser(_sign_up(fuzz_app, f"user_{uuid.uuid4().hex[:8]}"))
    # Signed in for real: a browser the API took for anonymous would make this run a
    # second anonymous one (every answer a 401) and pass.
    r = _request(fuzz_app, "GET", "/api/users/me", cookies=browser.cookies)
    assert r.status_code == 200, r.text
    return browser


@pytest.fixture(scope="module")
async def admin_browser(fuzz_app: FastAPI, fuzz_database_url: str) -> Browser:
    browser = _browser(_sign_up(fuzz_app, "fuzzadmin"))
    db = create_async_engine(fuzz_database_url)
    try:
        async with db.begin() as conn:
            await conn.execute(
                text("UPDATE users SET is_superuser = true WHERE username = 'fuzzadmin'")
            )
    finally:
        await db.dispose()
    signed_in = {"cookies": browser.cookies, "headers": browser.headers}
    r = _request(fuzz_app, "POST", "/api/auth/2fa/enrol", **signed_in)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    KNOWN_SECRETS.add(secret)
    # The current step's code: should a step end before the server checks it, it is the
    # previous one, which is still accepted.
    code = pyotp.TOTP(secret).now()
    r = _request(fuzz_app, "POST", "/api/auth/2fa/enrol/confirm", json={"code": code}, **signed_in)
    assert r.status_code == 200, r.text
    return browser


@pytest.fixture
def someone(fuzz_app: FastAPI) -> str:
    """An account for the admin to act on (generated ids name nobody); a new one per
    operation, since one of them deletes it."""
    return str(_sign_up(fuzz_app, f"someone_{uuid.uuid4().hex[:8]}").json()["id"])


def test_the_fuzzed_schema_is_the_one_served(fuzz_app: FastAPI) -> None:
    assert _request(fuzz_app, "GET", "/openapi.json").json() == DOCUMENT


@anonymous.parametrize()
@FUZZ
def test_anonymous(case: Case[Any], fuzz_app: FastAPI) -> None:
    case.call_and_validate(app=fuzz_app, base_url=BASE_URL, checks=ANONYMOUS_CHECKS)


@signed_in.parametrize()
@FUZZ
def test_signed_in_user(case: Case[Any], fuzz_app: FastAPI, user_browser: Browser) -> None:
    case.call_and_validate(
        app=fuzz_app,
        base_url=BASE_URL,
        checks=CHECKS,
        cookies=user_browser.cookies,
        headers=user_browser.headers,
    )


@signed_in.include(path_regex="^/api/admin/").parametrize()
@FUZZ
def test_admin(case: Case[Any], fuzz_app: FastAPI, admin_browser: Browser, someone: str) -> None:
    call: dict[str, Any] = {
        "app": fuzz_app,
        "base_url": BASE_URL,
        "checks": CHECKS,
        "cookies": admin_browser.cookies,
        "headers": admin_browser.headers,
    }
    # Still an admin past the gate (2FA, step-up): otherwise every answer would be a
    # 403 and the run would check nothing past it.
    r = _request(fuzz_app, "GET", "/api/admin/users", cookies=admin_browser.cookies)
    assert r.status_code == 200, r.text
    case.call_and_validate(**call)
    if case.path_parameters and "user_id" in case.path_parameters:
        # Again on a real account, so the actions get past "no such user".
        case.path_parameters["user_id"] = someone
        case.call_and_validate(**call)

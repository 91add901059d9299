"""Two API processes against one PostgreSQL behave as one API (docs/deployment.md).

Each instance is a real ``uvicorn`` process on 127.0.0.1, started as bin/dev starts the
API, with the environment an operator would give every instance: the test settings
(database, AUTHFLOW_ENV=test, the same AUTHFLOW_KEYS_DIR and so the same server secret),
an outbox worker in each, sending to a real SMTP server. The only setting that differs is
AUTHFLOW_EMAIL_FROM, so the messages show which instance's worker sent them.

They get a database of their own on the test server (migrated once, before they start,
as a deployment does), because a key rotation must not reach the suite's shared app.
Both processes start once per module and are stopped by PID at its end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from alembic import command
from alembic.config import Config
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from authflow import devdb
from authflow.auth.cookies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from authflow.config import Settings
from authflow.db import autocommit
from authflow.kit.server_secret import DEV_SECRET_FILE
from authflow.models import EmailOutbox, ThrottleCounter, UserSession
from tests.conftest import (
    BACKEND,
    KNOWN_SECRETS,
    _remember_received_secrets,
    _remember_sent_secrets,
    find_leaks,
)
from tests.email.conftest import SmtpServer, smtp_settings
from tests.throttle.conftest import REDIS_SERVER

PASSWORD = "correct horse battery staple"
AUTHFLOW = Path(sys.executable).parent / "authflow"
START_TIMEOUT = 60.0
# Low, so a rotation reaches both processes within the test (docs/security.md).
KEY_RELOAD_SECONDS = 1
# A replay must come after the grace window: the test waits it out.
REFRESH_GRACE_SECONDS = 1
FREE_FAILURES_PER_PAIR = 3
# Long enough that no attempt in the test outlives the delay it earned.
THROTTLE_DELAY_SECONDS = 60
OUTBOX_USERS = 25  # a verification and a reset message each: 50 messages


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def environment(settings: Settings, **overrides: object) -> dict[str, str]:
    """The process environment that gives an API process ``settings`` plus ``overrides``:
    only what the fixture set, on top of a shell without AUTHFLOW_* of its own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AUTHFLOW_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    values = {name: getattr(settings, name) for name in settings.model_fields_set}
    values.update(overrides)
    for name, value in values.items():
        if value is None:
            continue
        variable = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}.get(
            name, f"AUTHFLOW_{name.upper()}"
        )
        env[variable] = _env_value(value)
    return env


@dataclass
class Instance:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: uvicorn runs the lifespan's shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(lines[-30:])


def start_instance(name: str, env: Mapping[str, str], log_dir: Path) -> Instance:
    port = devdb.free_port()
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        # As bin/dev starts the API: the app factory, X-Forwarded-For left to the app.
        process = subprocess.Popen(  # noqa: S603 (a fixed command line)
            [
                sys.executable,
                "-m",
                "uvicorn",
                "authflow.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-proxy-headers",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=dict(env),
            cwd=BACKEND,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Instance(name, port, process, log)


async def wait_ready(http: httpx.AsyncClient, instances: list[Instance]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    for instance in instances:
        while True:
            assert instance.process.poll() is None, f"{instance.name} exited\n" + (
                instance.log_tail()
            )
            assert time.monotonic() < deadline, f"{instance.name} not ready\n" + (
                instance.log_tail()
            )
            try:
                if (await http.get(instance.url + "/api/ready")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


@dataclass
class Cluster:
    a: Instance
    b: Instance
    http: httpx.AsyncClient
    engine: AsyncEngine
    smtp: SmtpServer
    env: dict[str, str]
    started: list[Instance] = field(default_factory=list)


@pytest.fixture(scope="module")
async def database(settings: Settings) -> AsyncIterator[str]:
    """A database of the test server for these instances, migrated before they start."""
    name = f"instances_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(settings.async_database_url)
    try:
        async with autocommit(admin).connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {name}"))
        url = settings.async_database_url.rsplit("/", 1)[0] + "/" + name
        config = Config(str(BACKEND / "alembic.ini"))
        config.attributes["database_url"] = url
        config.attributes["configure_logger"] = False
        await asyncio.to_thread(command.upgrade, config, "head")
        yield url.replace("postgresql+asyncpg://", "postgresql://")
    finally:
        async with autocommit(admin).connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await admin.dispose()


def _shared_environment(settings: Settings, database: str, smtp_port: int) -> dict[str, str]:
    return environment(
        settings,
        database_url=database,
        **smtp_settings(smtp_port),
        key_reload_seconds=KEY_RELOAD_SECONDS,
        refresh_grace_seconds=REFRESH_GRACE_SECONDS,
        login_free_failures_per_pair=FREE_FAILURES_PER_PAIR,
        throttle_base_delay_seconds=THROTTLE_DELAY_SECONDS,
        log_format="json",
        log_level="INFO",
    )


@pytest.fixture(scope="module")
async def cluster(
    settings: Settings, database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    smtp = SmtpServer(devdb.free_port())
    smtp.start()
    env = _shared_environment(settings, database, smtp.port)
    log_dir = tmp_path_factory.mktemp("instances")
    started: list[Instance] = []
    engine = create_async_engine(
        database.replace("postgresql://", "postgresql+asyncpg://"), pool_size=2
    )
    http = httpx.AsyncClient(
        trust_env=False,  # straight to 127.0.0.1, whatever proxy the environment names
        timeout=30,
        event_hooks={
            "request": [_remember_sent_secrets],
            "response": [_remember_received_secrets],
        },
    )
    try:
        # Both at once, on an empty signing-key table: they must agree on one key.
        for name in ("a", "b"):
            started.append(
                start_instance(
                    name, {**env, "AUTHFLOW_EMAIL_FROM": f"Authflow <{name}@example.com>"}, log_dir
                )
            )
        await wait_ready(http, started)
        yield Cluster(started[0], started[1], http, engine, smtp, env, started)
    finally:
        for instance in started:
            instance.stop()
        await http.aclose()
        await engine.dispose()
        smtp.stop()
        _assert_no_secrets_in(started, settings)


def _assert_no_secrets_in(instances: list[Instance], settings: Settings) -> None:
    """The processes' own logs: the suite's log check sees only in-process records."""
    secrets = set(KNOWN_SECRETS)
    secret_file = settings.keys_dir / DEV_SECRET_FILE
    if secret_file.exists():
        secrets.add(secret_file.read_text().strip())
    lines = [line for i in instances for line in i.log.read_text(errors="replace").splitlines()]
    leaks = find_leaks(lines, secrets)
    assert not leaks, "instance logs contain secrets:\n" + "\n".join(leaks[:10])


# -- Clients ------------------------------------------------------------------------------


class Browser:
    """A browser's cookies, kept by hand: the API's cookies are Secure, which httpx sends
    back only over https, and these instances speak plain http on 127.0.0.1."""

    def __init__(self, http: httpx.AsyncClient, origin: str) -> None:
        self.http = http
        self.origin = origin
        self.cookies: dict[str, str] = {}

    def copy(self) -> Browser:
        other = Browser(self.http, self.origin)
        other.cookies = dict(self.cookies)
        return other

    async def request(
        self, instance: Instance, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        # A page of the web app calling /api through its rewrite.
        headers = {"Origin": self.origin, "Sec-Fetch-Site": "same-origin"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method != "GET" and CSRF_COOKIE in self.cookies:
            # What the web app's fetch wrapper does: echo the readable CSRF cookie.
            headers["X-CSRF-Token"] = self.cookies[CSRF_COOKIE]
        r = await self.http.request(method, instance.url + path, headers=headers, **kwargs)
        for cookie in r.headers.get_list("set-cookie"):
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in cookie.lower() or value in ("", '""'):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return r


async def signup(http: httpx.AsyncClient, on: Instance, name: str | None = None) -> str:
    username = name or f"user_{uuid.uuid4().hex[:10]}"
    r = await http.post(
        on.url + "/api/auth/signup",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    assert r.status_code == 201, r.text
    return username


async def token_pair(http: httpx.AsyncClient, on: Instance, username: str) -> dict[str, Any]:
    r = await http.post(on.url + "/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def refreshed(http: httpx.AsyncClient, on: Instance, refresh_token: str) -> httpx.Response:
    return await http.post(
        on.url + "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


async def me(http: httpx.AsyncClient, on: Instance, access_token: str) -> int:
    r = await http.get(on.url + "/users/me/", headers={"Authorization": f"Bearer {access_token}"})
    return r.status_code


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def kids(http: httpx.AsyncClient, on: Instance) -> list[str]:
    r = await http.get(on.url + "/.well-known/jwks.json")
    assert r.status_code == 200, r.text
    return [k["kid"] for k in r.json()["keys"]]


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not within {within}s: {what}"
        await asyncio.sleep(0.1)


# -- Sessions -----------------------------------------------------------------------------


async def test_both_instances_are_up_with_one_signing_key(cluster: Cluster) -> None:
    """Started together on an empty key table, they made one key between them."""
    a_kids, b_kids = await kids(cluster.http, cluster.a), await kids(cluster.http, cluster.b)
    assert len(a_kids) == 1
    assert a_kids == b_kids
    for instance in (cluster.a, cluster.b):
        assert (await cluster.http.get(instance.url + "/api/health")).status_code == 200


async def test_bearer_session_refresh_and_logout_across_instances(cluster: Cluster) -> None:
    http, a, b = cluster.http, cluster.a, cluster.b
    username = await signup(http, a)
    issued_on_a = await token_pair(http, a, username)

    r = await http.get(
        b.url + "/users/me/", headers={"Authorization": f"Bearer {issued_on_a['access_token']}"}
    )
    assert (r.status_code, r.json()["username"]) == (200, username)

    # The refresh token from A, spent on B; the new pair works on A.
    r = await refreshed(http, b, issued_on_a["refresh_token"])
    assert r.status_code == 200, r.text
    renewed_on_b = r.json()
    assert await me(http, a, renewed_on_b["access_token"]) == 200

    # Logout on A: B refuses the session at its next request, both tokens of it.
    r = await http.post(
        a.url + "/api/auth/logout",
        headers={"Authorization": f"Bearer {renewed_on_b['access_token']}"},
    )
    assert r.status_code == 204
    assert await me(http, b, renewed_on_b["access_token"]) == 401
    assert (await refreshed(http, b, renewed_on_b["refresh_token"])).status_code == 401


async def test_browser_session_moves_between_instances(cluster: Cluster) -> None:
    """Cookies and the CSRF token made by one instance are good at the other."""
    a, b = cluster.a, cluster.b
    username = await signup(cluster.http, b)
    browser = Browser(cluster.http, cluster.env["AUTHFLOW_WEB_ORIGIN"])
    r = await browser.request(
        a, "POST", "/api/auth/login", json={"login": username, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    assert {ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE} <= set(browser.cookies)

    r = await browser.request(b, "GET", "/api/users/me")
    assert (r.status_code, r.json()["username"]) == (200, username)
    # An unsafe request with A's cookies and CSRF token, at B.
    r = await browser.request(b, "POST", "/api/notes", json={"text": "from b"})
    assert r.status_code == 201, r.text

    # Refresh at B (rotates the cookie), carry on at A.
    access_before = browser.cookies[ACCESS_COOKIE]
    r = await browser.request(b, "POST", "/api/auth/refresh")
    assert r.status_code == 200, r.text
    assert browser.cookies[ACCESS_COOKIE] != access_before
    r = await browser.request(a, "GET", "/api/notes")
    assert r.status_code == 200
    assert [n["text"] for n in r.json()] == ["from b"]

    # Logout at A; a copy of the cookies (a second tab, a thief) is refused at B at once.
    stolen = browser.copy()
    r = await browser.request(a, "POST", "/api/auth/logout")
    assert r.status_code == 204
    assert ACCESS_COOKIE not in browser.cookies
    assert (await stolen.request(b, "GET", "/api/users/me")).status_code == 401
    assert (await stolen.request(b, "POST", "/api/auth/refresh")).status_code == 401


async def test_revoking_a_session_on_one_instance_ends_it_on_the_other(cluster: Cluster) -> None:
    http, a, b = cluster.http, cluster.a, cluster.b
    username = await signup(http, a)
    laptop, phone = await token_pair(http, a, username), await token_pair(http, b, username)
    laptop_auth = {"Authorization": f"Bearer {laptop['access_token']}"}

    # The sign-up's session, the laptop's and the phone's, listed at B.
    r = await http.get(b.url + "/api/sessions", headers=laptop_auth)
    assert r.status_code == 200
    assert len(r.json()) == 3
    phone_session = claims_of(phone["access_token"])["sid"]
    assert phone_session in {s["id"] for s in r.json()}

    assert await me(http, b, phone["access_token"]) == 200
    r = await http.delete(a.url + f"/api/sessions/{phone_session}", headers=laptop_auth)
    assert r.status_code == 204
    assert await me(http, b, phone["access_token"]) == 401
    assert await me(http, b, laptop["access_token"]) == 200


async def test_a_refresh_token_replayed_on_the_other_instance_revokes_the_session(
    cluster: Cluster,
) -> None:
    http, a, b = cluster.http, cluster.a, cluster.b
    username = await signup(http, b)
    first = await token_pair(http, b, username)
    r = await refreshed(http, a, first["refresh_token"])
    assert r.status_code == 200, r.text
    rotated_on_a = r.json()

    await asyncio.sleep(REFRESH_GRACE_SECONDS + 0.5)
    # The rotated-out token again, at the other instance, after the grace window.
    r = await refreshed(http, b, first["refresh_token"])
    assert (r.status_code, r.json()["error"]) == (401, "invalid_grant")

    # The whole session ended: the successor A issued is dead on both.
    assert await me(http, a, rotated_on_a["access_token"]) == 401
    assert await me(http, b, rotated_on_a["access_token"]) == 401
    assert (await refreshed(http, a, rotated_on_a["refresh_token"])).status_code == 401
    async with cluster.engine.connect() as conn:
        reason = await conn.scalar(
            select(UserSession.revoked_reason).where(
                UserSession.id == uuid.UUID(claims_of(first["access_token"])["sid"])
            )
        )
    assert reason == "refresh_token_reused"


# -- Signing keys -------------------------------------------------------------------------


async def test_a_key_rotation_reaches_both_instances(cluster: Cluster) -> None:
    http, a, b = cluster.http, cluster.a, cluster.b
    username = await signup(http, a)
    old_from_a = await token_pair(http, a, username)
    old_from_b = await token_pair(http, b, username)
    [old_kid] = await kids(http, a)
    assert kid_of(old_from_a["access_token"]) == kid_of(old_from_b["access_token"]) == old_kid

    # The operator's command, with the instances' environment, from its own process.
    done = await asyncio.to_thread(
        subprocess.run,
        [str(AUTHFLOW), "rotate-keys"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    new_kid = done.stdout.split("new signing key: ")[1].split()[0]
    assert new_kid != old_kid

    # The instance that re-reads the keys first signs with the new one while the other
    # may not know it yet: a token naming a key it does not know makes a process re-read
    # them (docs/security.md), so the token is good there at once.
    signers: list[Instance] = []

    async def one_switched() -> bool:
        signers.extend([i for i in (a, b) if (await kids(http, i))[0] == new_kid][:1])
        return bool(signers)

    await eventually(one_switched, "an instance signs with the new key")
    first = signers[0]
    other = b if first is a else a
    for signer, verifier in ((first, other), (other, first)):

        async def switched(signer: Instance = signer) -> bool:
            return (await kids(http, signer))[0] == new_kid

        await eventually(switched, f"{signer.name} signs with the new key")
        fresh = await token_pair(http, signer, username)
        assert kid_of(fresh["access_token"]) == new_kid
        assert await me(http, verifier, fresh["access_token"]) == 200, verifier.name

    # Tokens signed before the rotation: good on both, first presented here.
    assert await me(http, b, old_from_a["access_token"]) == 200
    assert await me(http, a, old_from_b["access_token"]) == 200
    assert await kids(http, a) == await kids(http, b) == [new_kid, old_kid]


# -- Throttling ---------------------------------------------------------------------------


async def wrong_passwords(http: httpx.AsyncClient, on: list[Instance]) -> list[int]:
    """Wrong passwords for one login name, one attempt per instance in ``on``."""
    login = f"target_{uuid.uuid4().hex[:8]}"
    answers = []
    for instance in on:
        r = await http.post(
            instance.url + "/api/auth/login", json={"login": login, "password": "not it at all"}
        )
        if r.status_code == 429:
            assert r.json()["code"] == "TOO_MANY_REQUESTS"
            assert int(r.headers["retry-after"]) > 0
        answers.append(r.status_code)
    return answers


async def test_wrong_passwords_at_both_instances_add_up(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    on_one = await wrong_passwords(cluster.http, [a, a, a, a, a])
    spread = await wrong_passwords(cluster.http, [a, b, a, b, a])
    assert on_one == [401] * FREE_FAILURES_PER_PAIR + [429, 429]
    assert spread == on_one


# -- Email outbox -------------------------------------------------------------------------


async def test_two_outbox_workers_send_each_message_exactly_once(cluster: Cluster) -> None:
    http, instances = cluster.http, [cluster.a, cluster.b]
    run = uuid.uuid4().hex[:6]
    names = [f"mail{run}_{i:02d}" for i in range(OUTBOX_USERS)]
    addresses = {f"{name}@example.com" for name in names}

    # Sign-ups (a verification message each), then forgot-password (a reset link each),
    # sent to both instances at once so both workers find work at the same moments.
    await asyncio.gather(*(signup(http, instances[i % 2], n) for i, n in enumerate(names)))
    answers = await asyncio.gather(
        *(
            http.post(
                instances[i % 2].url + "/api/auth/forgot-password",
                json={"email": f"{n}@example.com"},
            )
            for i, n in enumerate(names)
        )
    )
    assert {r.status_code for r in answers} == {202}

    async def all_sent() -> bool:
        async with cluster.engine.connect() as conn:
            waiting = (
                await conn.execute(
                    select(EmailOutbox.id).where(
                        EmailOutbox.to_address.in_(addresses), EmailOutbox.sent_at.is_(None)
                    )
                )
            ).all()
            queued = (
                await conn.execute(
                    select(EmailOutbox.id).where(EmailOutbox.to_address.in_(addresses))
                )
            ).all()
        return not waiting and len(queued) == 2 * OUTBOX_USERS

    await eventually(all_sent, "every message marked sent", within=60)
    # A message is handed to the SMTP server before its row is marked sent, so every
    # delivery, a second one included, has reached the mailbox by now.
    delivered = [m for m in list(cluster.smtp.mailbox.messages) if m["To"] in addresses]
    per_recipient = Counter(str(m["To"]) for m in delivered)
    assert len(delivered) == 2 * OUTBOX_USERS
    assert set(per_recipient.values()) == {2}
    for address in addresses:
        subjects = sorted(str(m["Subject"]) for m in delivered if m["To"] == address)
        assert subjects == [
            "Confirm your email address for Authflow",
            "Reset your Authflow password",
        ]
    # Both workers took part.
    senders = Counter(str(m["From"]) for m in delivered)
    assert set(senders) == {"Authflow <a@example.com>", "Authflow <b@example.com>"}, senders


# -- Throttling in Redis ------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = devdb.free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(  # noqa: S603 (a fixed command line)
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


async def _throttle_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(ThrottleCounter)) or 0)


async def test_wrong_passwords_add_up_in_redis_too(
    cluster: Cluster, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = {**cluster.env, "REDIS_URL": redis_server}
    log_dir = tmp_path_factory.mktemp("instances-redis")
    pair = [start_instance(name, env, log_dir) for name in ("redis-a", "redis-b")]
    cluster.started.extend(pair)  # their logs are checked for secrets too
    try:
        await wait_ready(cluster.http, pair)
        a, b = pair
        in_table = await _throttle_rows(cluster.engine)
        on_one = await wrong_passwords(cluster.http, [a, a, a, a, a])
        spread = await wrong_passwords(cluster.http, [a, b, a, b, a])
        assert on_one == [401] * FREE_FAILURES_PER_PAIR + [429, 429]
        assert spread == on_one
        # The counts went to Redis; PostgreSQL's table did not change.
        redis = Redis.from_url(redis_server)
        try:
            assert await redis.dbsize() > 0
        finally:
            await redis.aclose()
        assert await _throttle_rows(cluster.engine) == in_table
    finally:
        for instance in pair:
            instance.stop()

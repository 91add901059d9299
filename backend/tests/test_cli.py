"""The ``authflow`` command: every command end to end, its errors and exit codes."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import bcrypt
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from authflow import cli, devdb
from authflow import purge as purge_module
from authflow.config import Settings
from authflow.db import autocommit as autocommit_engine
from authflow.kit import jwt as jwt_module
from authflow.kit.clock import utc_now
from authflow.models import (
    AuthEvent,
    EmailOutbox,
    EmailToken,
    SpentRefreshToken,
    ThrottleCounter,
    TwoFactorChallenge,
    User,
    UserDevice,
    UserSession,
)
from authflow.user import importer
from tests.conftest import client_for

AUTHFLOW = Path(sys.executable).parent / "authflow"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> pytest.MonkeyPatch:
    """The environment an operator's shell would have: the API's settings."""
    for name in ("AUTHFLOW_SECRET_KEY", "AUTHFLOW_ENV", "DATABASE_URL", "AUTHFLOW_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUTHFLOW_ENV", "test")
    monkeypatch.setenv("AUTHFLOW_KEYS_DIR", str(settings.keys_dir))
    return monkeypatch


async def run_cli(*argv: str) -> int:
    # The command runs its own event loop, as it does from a shell.
    return await asyncio.to_thread(cli.main, list(argv))


async def me(c: httpx.AsyncClient, token: str) -> int:
    r = await c.get("/users/me/", headers={"Authorization": f"Bearer {token}"})
    return r.status_code


async def kids(c: httpx.AsyncClient) -> list[str]:
    return [k["kid"] for k in (await c.get("/.well-known/jwks.json")).json()["keys"]]


async def login(c: httpx.AsyncClient) -> dict[str, Any]:
    r = await c.post("/token", data={"username": "rotor", "password": "a long passphrase 1"})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_rotate_keys_signs_nobody_out(
    make_app: Any, scratch_database_url: str, cli_env: pytest.MonkeyPatch, capsys: Any
) -> None:
    cli_env.setenv("DATABASE_URL", scratch_database_url)
    # Processes re-read keys for an unknown kid at most every few seconds (tested in
    # kit/test_jwt.py); this test runs faster than that.
    cli_env.setattr(jwt_module, "UNKNOWN_KID_RELOAD_INTERVAL", 0.0)
    running = make_app(database_url=scratch_database_url)
    async with running.router.lifespan_context(running), client_for(running) as c:
        r = await c.post(
            "/api/auth/signup",
            json={
                "username": "rotor",
                "email": "rotor@example.com",
                "password": "a long passphrase 1",
            },
        )
        assert r.status_code == 201, r.text
        before = await login(c)
        [old_kid] = await kids(c)

        assert await run_cli("rotate-keys") == 0
        out = capsys.readouterr().out
        assert f"retired key:     {old_kid}" in out
        new_kid = out.split("new signing key: ")[1].split()[0]

        # The process that has not reloaded yet: the old token still works.
        assert await me(c, before["access_token"]) == 200

        # A process started after the rotation signs with the new key, publishes both,
        # and accepts tokens signed before the rotation.
        fresh = make_app(database_url=scratch_database_url)
        async with fresh.router.lifespan_context(fresh), client_for(fresh) as f:
            assert await kids(f) == [new_kid, old_kid]
            assert await me(f, before["access_token"]) == 200
            after = await login(f)
            assert after["access_token"].split(".")[0] != before["access_token"].split(".")[0]

        # The first process learns of the new key from the first token that names it.
        assert await me(c, after["access_token"]) == 200
        assert await kids(c) == [new_kid, old_kid]
        # Its sessions refresh as before, now signed with the new key.
        r = await c.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": before["refresh_token"]}
        )
        assert r.status_code == 200, r.text
        assert await me(c, r.json()["access_token"]) == 200
        assert running.state.keys.signing.kid == new_kid


async def test_rotate_keys_refuses_a_secret_that_does_not_open_the_current_key(
    make_app: Any, scratch_database_url: str, cli_env: pytest.MonkeyPatch, capsys: Any
) -> None:
    cli_env.setenv("DATABASE_URL", scratch_database_url)
    app = make_app(database_url=scratch_database_url)
    async with app.router.lifespan_context(app):
        pass  # made the first key, sealed with the test secret
    cli_env.setenv("AUTHFLOW_SECRET_KEY", "a-different-secret-of-enough-length-0123")
    assert await run_cli("rotate-keys") == cli.EXIT_FAILED
    assert "AUTHFLOW_SECRET_KEY cannot open signing key" in capsys.readouterr().err


async def test_unreachable_database_exits_1(cli_env: pytest.MonkeyPatch, capsys: Any) -> None:
    cli_env.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{devdb.free_port()}/none")
    assert await run_cli("rotate-keys") == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("authflow rotate-keys: cannot reach the database")
    assert "Traceback" not in err


async def test_unmigrated_database_exits_1(
    cli_env: pytest.MonkeyPatch, settings: Settings, capsys: Any
) -> None:
    assert settings.database_url is not None
    cli_env.setenv("DATABASE_URL", settings.database_url.rsplit("/", 1)[0] + "/postgres")
    assert await run_cli("rotate-keys") == cli.EXIT_FAILED
    assert "not migrated" in capsys.readouterr().err


async def test_bad_settings_exit_2(cli_env: pytest.MonkeyPatch, capsys: Any) -> None:
    cli_env.setenv("AUTHFLOW_ENV", "production")
    cli_env.setenv("DATABASE_URL", "postgresql://u@127.0.0.1/db")
    assert await run_cli("rotate-keys") == cli.EXIT_USAGE
    assert "AUTHFLOW_SECRET_KEY" in capsys.readouterr().err

    cli_env.setenv("DATABASE_URL", "mysql://u@h/db")
    cli_env.setenv("AUTHFLOW_ENV", "test")
    assert await run_cli("rotate-keys") == cli.EXIT_USAGE
    assert "postgresql://" in capsys.readouterr().err


async def test_without_database_url_the_stopped_dev_database_is_started_and_stopped(
    cli_env: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    pgdata = tmp_path / "postgres"
    cli_env.setattr(cli, "DEV_PGDATA", pgdata)
    assert await run_cli("rotate-keys") == cli.EXIT_FAILED
    assert "run bin/dev once" in capsys.readouterr().err

    await asyncio.to_thread(devdb.init_cluster, pgdata, fast_unsafe=True)
    # Reached (an empty database, so "not migrated"), and left stopped as it was found.
    assert await run_cli("rotate-keys") == cli.EXIT_FAILED
    assert "not migrated" in capsys.readouterr().err
    assert not (pgdata / "postmaster.pid").exists()


def test_installed_command_has_help_and_usage_errors() -> None:
    ok = subprocess.run([AUTHFLOW, "--help"], capture_output=True, text=True, check=False)  # noqa: S603
    assert ok.returncode == 0
    assert "rotate-keys" in ok.stdout
    sub = subprocess.run(  # noqa: S603
        [AUTHFLOW, "rotate-keys", "--help"], capture_output=True, text=True, check=False
    )
    assert sub.returncode == 0
    assert "nobody is signed out" in " ".join(sub.stdout.split())
    for argv in ([], ["no-such-command"], ["rotate-keys", "--bogus"]):
        bad = subprocess.run([AUTHFLOW, *argv], capture_output=True, text=True, check=False)  # noqa: S603
        assert bad.returncode == 2, argv
        assert "usage: authflow" in bad.stderr


# -- Helpers for the account commands ----------------------------------------------------

PASSWORD = "a long passphrase 1"
NEW_PASSWORD = "another long passphrase 2"


@pytest.fixture
def cli_database(scratch_database_url: str, cli_env: pytest.MonkeyPatch) -> str:
    cli_env.setenv("DATABASE_URL", scratch_database_url)
    return scratch_database_url


@pytest.fixture
async def scratch_engine(cli_database: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(cli_database.replace("postgresql://", "postgresql+asyncpg://"))
    yield eng
    await eng.dispose()


@asynccontextmanager
async def api(make_app: Any, database_url: str, **overrides: Any) -> AsyncIterator[FastAPI]:
    app: FastAPI = make_app(database_url=database_url, **overrides)
    async with app.router.lifespan_context(app):
        yield app


def stdin(monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(content))


def prompt_answers(monkeypatch: pytest.MonkeyPatch, *answers: str) -> None:
    """An operator at a terminal typing ``answers`` at the no-echo prompts."""
    typed = iter(answers)
    monkeypatch.setattr(cli, "_stdin_is_terminal", lambda: True)
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": next(typed))


async def signup(c: httpx.AsyncClient, username: str, password: str = PASSWORD) -> None:
    r = await c.post(
        "/api/auth/signup",
        json={"username": username, "email": f"{username}@example.com", "password": password},
    )
    assert r.status_code == 201, r.text


async def sign_in(c: httpx.AsyncClient, login: str, password: str = PASSWORD) -> httpx.Response:
    return await c.post("/token", data={"username": login, "password": password})


async def tokens(c: httpx.AsyncClient, login: str, password: str = PASSWORD) -> dict[str, Any]:
    r = await sign_in(c, login, password)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def stored_hash(eng: AsyncEngine, username: str) -> str:
    users = cast(Table, User.__table__)
    async with eng.connect() as conn:
        return str(
            (
                await conn.execute(
                    select(users.c.hashed_password).where(users.c.username == username)
                )
            ).scalar_one()
        )


async def events(eng: AsyncEngine, kind: str) -> list[dict[str, Any]]:
    table = cast(Table, AuthEvent.__table__)
    async with eng.connect() as conn:
        rows = await conn.execute(select(table.c.detail).where(table.c.kind == kind))
        return [dict(r.detail or {}) for r in rows]


# -- create-admin, grant-admin, revoke-admin --------------------------------------------


async def test_create_admin_reads_the_password_from_stdin_and_can_sign_in(
    make_app: Any,
    cli_database: str,
    scratch_engine: AsyncEngine,
    cli_env: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    stdin(cli_env, PASSWORD + "\n")
    argv = ["create-admin", "boss", "--email", "boss@example.com", "--full-name", "The Boss"]
    assert await run_cli(*argv, "--password-stdin") == 0
    out, err = capsys.readouterr()
    assert out == "created admin boss <boss@example.com>\n"
    assert "two-factor" in err
    assert (await stored_hash(scratch_engine, "boss")).startswith("$argon2id$")
    [signup_event] = await events(scratch_engine, "signup")
    assert signup_event["actor_username"] == "authflow (command line)"
    assert len(await events(scratch_engine, "admin_role_granted")) == 1

    async with api(make_app, cli_database) as app, client_for(app) as c:
        access = (await tokens(c, "boss"))["access_token"]
        me = await c.get("/users/me/", headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == 200
        assert me.json()["is_superuser"] is True
        assert me.json()["is_verified"] is True
        assert me.json()["full_name"] == "The Boss"
        await signup(c, "plain")

    # Existing accounts are never changed.
    stdin(cli_env, PASSWORD + "\n")
    assert await run_cli(*argv, "--password-stdin") == cli.EXIT_FAILED
    assert "boss already exists and is an admin" in capsys.readouterr().err
    stdin(cli_env, PASSWORD + "\n")
    assert (
        await run_cli("create-admin", "PLAIN", "--email", "x@example.com", "--password-stdin")
        == cli.EXIT_FAILED
    )
    err = capsys.readouterr().err
    assert err == (
        "authflow create-admin: plain already exists; to make it an admin: "
        "authflow grant-admin plain\n"
    )
    stdin(cli_env, PASSWORD + "\n")
    assert (
        await run_cli("create-admin", "other", "--email", "Boss@Example.com", "--password-stdin")
        == cli.EXIT_FAILED
    )
    assert "another account already uses Boss@example.com" in capsys.readouterr().err


async def test_create_admin_asks_twice_at_a_terminal(
    cli_database: str, cli_env: pytest.MonkeyPatch, capsys: Any
) -> None:
    prompt_answers(cli_env, PASSWORD, PASSWORD + "typo")
    assert await run_cli("create-admin", "boss", "--email", "b@example.com") == cli.EXIT_FAILED
    assert capsys.readouterr().err == "authflow create-admin: the two passwords differ\n"

    prompt_answers(cli_env, PASSWORD, PASSWORD)
    assert await run_cli("create-admin", "boss", "--email", "b@example.com") == 0
    assert "created admin boss" in capsys.readouterr().out


async def test_passwords_are_refused_before_the_database_is_touched(
    cli_env: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Nothing listens here: reaching for the database would fail differently.
    cli_env.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{devdb.free_port()}/none")
    create = ["create-admin", "boss", "--email", "boss@example.com", "--password-stdin"]
    for typed, message in (
        ("short\n", "Password must be at least 8 characters."),
        ("password123\n", "This password is too common"),
        ("boss-is-the-boss-here\n", "Password must not contain your username."),
        ("\n", "no password on standard input"),
        ("", "no password on standard input"),
    ):
        stdin(cli_env, typed)
        assert await run_cli(*create) == cli.EXIT_FAILED, typed
        err = capsys.readouterr().err
        assert err.startswith(f"authflow create-admin: {message}"), err
        assert typed.strip() not in err or not typed.strip()

    # Without --password-stdin and no terminal, there is nobody to ask.
    assert await run_cli("set-password", "boss") == cli.EXIT_FAILED
    assert "--password-stdin" in capsys.readouterr().err


async def test_grant_and_revoke_admin_keep_one_admin(
    make_app: Any, cli_database: str, cli_env: pytest.MonkeyPatch, capsys: Any
) -> None:
    async with api(make_app, cli_database) as app, client_for(app) as c:
        await signup(c, "first")
        await signup(c, "second")

    assert await run_cli("grant-admin", "first") == 0
    assert capsys.readouterr().out == "first is now an admin\n"
    assert await run_cli("grant-admin", "FIRST@example.com") == 0
    assert capsys.readouterr().out == "first is already an admin\n"

    # The last active admin can be neither demoted nor disabled.
    assert await run_cli("revoke-admin", "first") == cli.EXIT_FAILED
    assert "last active administrator" in capsys.readouterr().err
    assert await run_cli("disable-user", "first") == cli.EXIT_FAILED
    assert "last active administrator" in capsys.readouterr().err

    assert await run_cli("grant-admin", "second") == 0
    assert await run_cli("revoke-admin", "first") == 0
    assert "first is no longer an admin" in capsys.readouterr().out
    assert await run_cli("revoke-admin", "nobody") == cli.EXIT_FAILED
    assert "no user with the username or email address 'nobody'" in capsys.readouterr().err


# -- set-password, disable-user, enable-user ---------------------------------------------


async def test_set_password_ends_every_session(
    make_app: Any, cli_database: str, cli_env: pytest.MonkeyPatch, capsys: Any
) -> None:
    async with api(make_app, cli_database) as app, client_for(app) as c:
        await signup(c, "carol")
        before = await tokens(c, "carol")

        stdin(cli_env, "carol-rules-ok\n")
        assert await run_cli("set-password", "carol", "--password-stdin") == cli.EXIT_FAILED
        err = capsys.readouterr().err
        assert "authflow set-password: Password must not contain your username.\n" in err
        stdin(cli_env, NEW_PASSWORD + "\n")
        assert await run_cli("set-password", "nobody", "--password-stdin") == cli.EXIT_FAILED
        assert "no user" in capsys.readouterr().err

        prompt_answers(cli_env, NEW_PASSWORD, NEW_PASSWORD)
        assert await run_cli("set-password", "carol@example.com") == 0
        assert capsys.readouterr().out == (
            "password of carol changed; all their sessions have ended\n"
        )

        assert await me(c, before["access_token"]) == 401
        r = await c.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": before["refresh_token"]}
        )
        assert r.status_code == 401
        assert (await sign_in(c, "carol")).status_code == 401
        await tokens(c, "carol", NEW_PASSWORD)


async def test_disable_user_ends_live_sessions_at_once_and_enable_undoes_it(
    make_app: Any, cli_database: str, scratch_engine: AsyncEngine, capsys: Any
) -> None:
    async with api(make_app, cli_database) as app, client_for(app) as c:
        await signup(c, "dave")
        live = await tokens(c, "dave")
        assert await me(c, live["access_token"]) == 200

        assert await run_cli("disable-user", "dave@example.com") == 0
        assert capsys.readouterr().out == "dave is disabled; all their sessions have ended\n"
        assert await me(c, live["access_token"]) == 401
        assert (await sign_in(c, "dave")).status_code == 401
        assert await run_cli("disable-user", "dave") == 0
        assert "dave was already disabled" in capsys.readouterr().out

        assert await run_cli("enable-user", "dave") == 0
        assert capsys.readouterr().out == "dave is enabled\n"
        await tokens(c, "dave")
        assert await run_cli("enable-user", "nobody") == cli.EXIT_FAILED
        assert "no user" in capsys.readouterr().err

    [disabled] = await events(scratch_engine, "admin_user_disabled")
    assert disabled["actor_username"] == "authflow (command line)"
    assert len(await events(scratch_engine, "admin_user_enabled")) == 1


# -- calibrate-hashing and the Argon2 settings ---------------------------------------------


async def test_calibrate_hashing_prints_settings_that_load(
    cli_env: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Asking for less than the baseline costs measures it once and answers the baseline;
    # no database is needed.
    cli_env.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{devdb.free_port()}/none")
    assert await run_cli("calibrate-hashing", "--target-ms", "1") == 0
    out, err = capsys.readouterr()
    assert out == (
        "AUTHFLOW_ARGON2_MEMORY_KIB=19456\n"
        "AUTHFLOW_ARGON2_TIME_COST=2\n"
        "AUTHFLOW_ARGON2_PARALLELISM=1\n"
    )
    assert "m=19456 KiB, t=2, p=1:" in err
    for line in out.splitlines():
        name, value = line.split("=")
        cli_env.setenv(name, value)
    assert Settings().argon2_memory_kib == 19456


async def test_raised_argon2_settings_rehash_at_the_next_sign_in(
    make_app: Any, scratch_database_url: str, engine: AsyncEngine
) -> None:
    scratch = create_async_engine(
        scratch_database_url.replace("postgresql://", "postgresql+asyncpg://")
    )
    try:
        async with api(make_app, scratch_database_url) as app, client_for(app) as c:
            await signup(c, "erin")
        assert "$m=19456,t=2,p=1$" in await stored_hash(scratch, "erin")
        async with (
            api(make_app, scratch_database_url, argon2_memory_kib=20480, argon2_time_cost=3) as app,
            client_for(app) as c,
        ):
            await tokens(c, "erin")
        assert "$m=20480,t=3,p=1$" in await stored_hash(scratch, "erin")
    finally:
        await scratch.dispose()


# -- import-users --------------------------------------------------------------------------


def bcrypt_hash(password: str, prefix: bytes = b"2b") -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4, prefix=prefix)).decode()


@pytest.fixture
async def legacy_database_url(engine: AsyncEngine, settings: Settings) -> AsyncIterator[str]:
    """Another database on the same server, as the FastAPI tutorial's app left it."""
    name = f"legacy_{uuid.uuid4().hex[:12]}"
    async with autocommit_engine(engine).connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    url = settings.async_database_url.rsplit("/", 1)[0] + "/" + name
    legacy = create_async_engine(url)
    try:
        async with legacy.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TABLE users (username varchar PRIMARY KEY, email varchar,"
                    " full_name varchar, hashed_password varchar NOT NULL, disabled boolean)"
                )
            )
        yield url.replace("postgresql+asyncpg://", "postgresql://")
    finally:
        await legacy.dispose()
        async with autocommit_engine(engine).connect() as conn:
            await conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))


async def in_legacy(url: str, sql: str, rows: list[dict[str, Any]] | None = None) -> None:
    legacy = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with legacy.begin() as conn:
            await (conn.execute(text(sql), rows) if rows else conn.execute(text(sql)))
    finally:
        await legacy.dispose()


async def test_import_users_keeps_bcrypt_hashes_until_the_first_sign_in(
    make_app: Any,
    cli_database: str,
    scratch_engine: AsyncEngine,
    legacy_database_url: str,
    capsys: Any,
) -> None:
    johndoe = bcrypt_hash("secret passphrase j")
    rows = [
        # Imported.
        ("johndoe", "johndoe@example.com", "John Doe", johndoe, False),
        ("alice", None, None, bcrypt_hash("secret passphrase a", b"2a"), False),
        ("yvonne", "", "", "$2y$" + bcrypt_hash("secret passphrase y")[4:], None),
        ("mallory", "mallory@example.com", None, bcrypt_hash("secret passphrase m"), True),
        # Skipped.
        ("JohnDoe", "jd2@example.com", None, johndoe, False),  # same name, other case
        ("john2", "JOHNDOE@example.com", None, johndoe, False),  # same address
        ("taken", "taken-elsewhere@example.com", None, johndoe, False),  # in Authflow
        ("md5user", None, None, "5f4dcc3b5aa765d61d8327deb882cf99", False),
        ("old", None, None, "$2x$04$" + johndoe[7:], False),
        ("plain", None, None, "secret passphrase", False),
        ("two words", None, None, johndoe, False),
        ("at@sign", None, None, johndoe, False),
        ("badmail", "not an address", None, johndoe, False),
    ]
    await in_legacy(
        legacy_database_url,
        "INSERT INTO users VALUES (:u, :e, :f, :h, :d)",
        [dict(zip("uefhd", row, strict=True)) for row in rows],
    )
    async with api(make_app, cli_database) as app, client_for(app) as c:
        await signup(c, "taken")

    import_argv = ["import-users", "--from-database", legacy_database_url, "--batch-size", "3"]
    # A dry run checks and counts everything and writes nothing.
    assert await run_cli(*import_argv, "--dry-run") == 0
    dry_out, dry_err = capsys.readouterr()
    assert dry_out.startswith("would import 4 of 13 users; skipped 9\n")
    assert "dry run" in dry_err
    assert "rows read" in dry_err
    assert len(await events(scratch_engine, "signup")) == 1  # taken's own

    assert await run_cli(*import_argv) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "imported 4 of 13 users; skipped 9"
    counts = {line.split(maxsplit=1)[1]: int(line.split()[0]) for line in lines[1:]}
    assert counts == {
        "username already in use": 2,
        "email address already in use": 1,
        "password hash is not bcrypt": 3,
        "username not valid here": 2,
        "email address not valid": 1,
    }
    assert dry_out.replace("would import", "imported") == out
    # Progress: one line per batch of 3.
    assert err.count("rows read") == 5
    assert "3 rows read" in err
    assert "13 rows read" in err
    assert await stored_hash(scratch_engine, "johndoe") == johndoe
    imported = await events(scratch_engine, "signup")
    assert sum(e.get("imported_from") == "users" for e in imported) == 4

    async with api(make_app, cli_database) as app, client_for(app) as c:
        access = (await tokens(c, "johndoe", "secret passphrase j"))["access_token"]
        me_json = (await c.get("/users/me/", headers={"Authorization": f"Bearer {access}"})).json()
        assert me_json["email"] == "johndoe@example.com"
        assert me_json["full_name"] == "John Doe"
        assert me_json["is_verified"] is False
        assert me_json["is_superuser"] is False
        await tokens(c, "alice", "secret passphrase a")
        await tokens(c, "YVONNE", "secret passphrase y")
        # Disabled there, disabled here.
        assert (await sign_in(c, "mallory", "secret passphrase m")).status_code == 401
        assert (await sign_in(c, "johndoe", "wrong passphrase")).status_code == 401
    for username in ("johndoe", "alice", "yvonne"):
        assert (await stored_hash(scratch_engine, username)).startswith("$argon2id$")
    assert (await stored_hash(scratch_engine, "mallory")).startswith("$2b$")

    # Run again (after an interruption, say): everything is already there, nothing changes.
    assert await run_cli(*import_argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("imported 0 of 13 users; skipped 13\n")
    assert "       6  username already in use" in out
    assert (await stored_hash(scratch_engine, "johndoe")).startswith("$argon2id$")


async def test_import_users_never_overwrites_an_account_created_meanwhile(
    cli_database: str,
    scratch_engine: AsyncEngine,
    legacy_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    rows = [{"u": f"user{i}", "h": bcrypt_hash(f"secret passphrase {i}")} for i in range(3)]
    await in_legacy(
        legacy_database_url, "INSERT INTO users (username, hashed_password) VALUES (:u, :h)", rows
    )
    argv = ["import-users", "--from-database", legacy_database_url]
    assert await run_cli(*argv, "--batch-size", "2") == 0
    capsys.readouterr()
    before = {r["u"]: await stored_hash(scratch_engine, r["u"]) for r in rows}

    async def nothing_taken(*_: Any) -> tuple[set[str], set[str]]:
        return set(), set()

    # Accounts that appear between the check and the insert (sign-ups meanwhile).
    monkeypatch.setattr(importer, "_existing", nothing_taken)
    assert await run_cli(*argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("imported 0 of 3 users; skipped 3\n")
    assert "username or email address taken during the import" in out
    assert {r["u"]: await stored_hash(scratch_engine, r["u"]) for r in rows} == before


async def test_import_users_reads_a_table_with_only_the_required_columns(
    cli_database: str, legacy_database_url: str, scratch_engine: AsyncEngine, capsys: Any
) -> None:
    await in_legacy(legacy_database_url, "CREATE SCHEMA legacy")
    await in_legacy(
        legacy_database_url, 'CREATE TABLE legacy."Accounts" (username text, hashed_password text)'
    )
    await in_legacy(
        legacy_database_url,
        'INSERT INTO legacy."Accounts" VALUES (:u, :h)',
        [{"u": "frank", "h": bcrypt_hash("secret passphrase f")}],
    )
    argv = ["import-users", "--from-database", legacy_database_url]
    assert await run_cli(*argv, "--table", "legacy.Accounts") == 0
    assert capsys.readouterr().out == "imported 1 of 1 users; skipped 0\n"
    assert (await stored_hash(scratch_engine, "frank")).startswith("$2b$")


async def test_import_users_errors(
    cli_database: str, cli_env: pytest.MonkeyPatch, legacy_database_url: str, capsys: Any
) -> None:
    base = ["import-users", "--from-database"]
    for argv, message in (
        ([*base, "mysql://u@h/db"], "--from-database must be a postgresql:// URL"),
        (
            [*base, f"postgresql://u:hunter2-pw@127.0.0.1:{devdb.free_port()}/db"],
            "cannot reach the source database",
        ),
        ([*base, legacy_database_url.rsplit("/", 1)[0] + "/nope"], "cannot reach the source"),
        ([*base, legacy_database_url, "--table", "people"], "has no table people"),
        ([*base, legacy_database_url, "--table", "pg_class"], "has no column username"),
    ):
        assert await run_cli(*argv) == cli.EXIT_FAILED, argv
        err = capsys.readouterr().err
        assert err.splitlines()[-1].startswith("authflow import-users: "), err
        assert message in err.splitlines()[-1], err
        assert "hunter2" not in err
        assert "Traceback" not in err

    await in_legacy(legacy_database_url, "ALTER TABLE users DROP COLUMN hashed_password")
    assert await run_cli(*base, legacy_database_url) == cli.EXIT_FAILED
    assert "table users has no column hashed_password" in capsys.readouterr().err

    # A table name is an identifier, nothing more: refused as bad usage.
    for bad in ('users"; DROP TABLE users; --', "a.b.c", "1users", ""):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*base, legacy_database_url, "--table", bad])
        assert exit_info.value.code == cli.EXIT_USAGE
        assert "table name must be" in capsys.readouterr().err


# -- purge ---------------------------------------------------------------------------------


async def test_purge_deletes_what_has_served_its_purpose_and_keeps_the_rest(
    cli_database: str, scratch_engine: AsyncEngine, cli_env: pytest.MonkeyPatch, capsys: Any
) -> None:
    now = utc_now()
    day = timedelta(days=1)
    user_id = uuid.uuid4()
    far = now + 30 * day

    def session(label: str, **values: Any) -> dict[str, Any]:
        row = {"id": uuid.uuid4(), "user_id": user_id, "user_agent": label}
        row |= {"expires_at": far, "last_seen_at": now, "revoked_at": None, **values}
        return row

    sessions = [
        session("keep live"),
        session("keep revoked yesterday", revoked_at=now - day),
        session("keep idle 10 days", last_seen_at=now - 10 * day),
        session("gone revoked 31 days ago", revoked_at=now - 31 * day),
        session("gone expired 31 days ago", expires_at=now - 31 * day),
        session("gone idle 40 days", last_seen_at=now - 40 * day),
    ]
    live, revoked_yesterday = sessions[0]["id"], sessions[1]["id"]

    def email_token(label: str, **values: Any) -> dict[str, Any]:
        return {
            "user_id": user_id,
            "purpose": "verify_email",
            "token_hash": label,
            "email": "x@example.com",
            "created_at": now - 20 * day,
            "expires_at": far,
            "used_at": None,
        } | values

    def challenge(label: str, **values: Any) -> dict[str, Any]:
        row = {"token_hash": label, "user_id": user_id, "via": "token", "remember_me": False}
        return row | {"created_at": now, "expires_at": now + day, "used_at": None, **values}

    def email(label: str, **values: Any) -> dict[str, Any]:
        row = {"kind": "test", "to_address": "x@example.com", "subject": label}
        row |= {"text_body": "", "html_body": "", "created_at": now - 40 * day}
        return row | {"next_attempt_at": now, "sent_at": None, "dead_at": None, **values}

    rows: dict[Any, list[dict[str, Any]]] = {
        User: [
            {
                "id": user_id,
                "username": "u",
                "username_key": "u",
                "hashed_password": "x",
            }
        ],
        UserSession: sessions,
        SpentRefreshToken: [
            {"token_hash": f"keep {live}", "session_id": live, "spent_at": now},
            {"token_hash": "gone 1", "session_id": revoked_yesterday, "spent_at": now},
            {"token_hash": "gone 2", "session_id": sessions[3]["id"], "spent_at": now},
        ],
        EmailToken: [
            email_token("keep live"),
            email_token("keep expired yesterday", expires_at=now - day),
            email_token("keep used yesterday", used_at=now - day),
            email_token("gone expired 8 days ago", expires_at=now - 8 * day),
            email_token("gone used 8 days ago", used_at=now - 8 * day),
        ],
        TwoFactorChallenge: [
            challenge("keep live"),
            challenge("gone expired", expires_at=now - timedelta(seconds=1)),
            challenge("gone used", used_at=now),
        ],
        ThrottleCounter: [
            {"key": "keep live", "expires_at": now + day},
            {"key": "gone expired", "expires_at": now - timedelta(seconds=1)},
        ],
        EmailOutbox: [
            email("keep pending"),
            email("keep sent yesterday", sent_at=now - day),
            email("keep dead 10 days ago", dead_at=now - 10 * day),
            email("gone sent 8 days ago", sent_at=now - 8 * day),
            email("gone dead 31 days ago", dead_at=now - 31 * day),
        ],
        UserDevice: [
            {"user_id": user_id, "device_hash": "keep", "first_seen_at": now, "last_seen_at": now},
            {
                "user_id": user_id,
                "device_hash": "gone",
                "first_seen_at": now - 400 * day,
                "last_seen_at": now - 366 * day,
            },
        ],
        AuthEvent: [
            {"occurred_at": now - day, "kind": "keep"},
            {"occurred_at": now - 366 * day, "kind": "gone"},
        ],
    }
    labels = {
        UserSession: "user_agent",
        SpentRefreshToken: "token_hash",
        EmailToken: "token_hash",
        TwoFactorChallenge: "token_hash",
        ThrottleCounter: "key",
        EmailOutbox: "subject",
        UserDevice: "device_hash",
        AuthEvent: "kind",
    }
    async with scratch_engine.begin() as conn:
        for model, values in rows.items():
            await conn.execute(insert(cast(Table, model.__table__)), values)

    async def remaining() -> dict[str, set[str]]:
        found = {}
        async with scratch_engine.connect() as conn:
            for model, column in labels.items():
                table = cast(Table, model.__table__)
                found[table.name] = set((await conn.execute(select(table.c[column]))).scalars())
        return found

    def expected_kept() -> dict[str, set[str]]:
        return {
            cast(Table, model.__table__).name: {
                str(r[column]) for r in rows[model] if str(r[column]).startswith("keep")
            }
            for model, column in labels.items()
        }

    def reported(out: str) -> dict[str, int]:
        return {line.split()[0]: int(line.split()[1]) for line in out.splitlines()[1:]}

    deleted = {
        "spent_refresh_tokens": 2,
        "user_sessions": 3,
        "email_tokens": 2,
        "two_factor_challenges": 2,
        "throttle_counters": 1,
        "email_outbox": 2,
        "user_devices": 1,
        "auth_events": 1,
    }
    before = await remaining()
    assert await run_cli("purge", "--dry-run") == 0
    out = capsys.readouterr().out
    assert out.startswith("would delete (dry run):\n")
    assert reported(out) == deleted
    assert await remaining() == before

    # Small chunks: the big-backlog path, with its progress lines.
    cli_env.setattr(purge_module, "CHUNK_ROWS", 1)
    assert await run_cli("purge") == 0
    out, err = capsys.readouterr()
    assert out.startswith("deleted:\n")
    assert reported(out) == deleted
    assert "user_sessions: 2 rows deleted so far" in err
    assert await remaining() == expected_kept()

    assert await run_cli("purge") == 0
    assert set(reported(capsys.readouterr().out).values()) == {0}


# -- Usage ---------------------------------------------------------------------------------

COMMANDS = (
    "rotate-keys",
    "create-admin",
    "grant-admin",
    "revoke-admin",
    "set-password",
    "disable-user",
    "enable-user",
    "calibrate-hashing",
    "import-users",
    "purge",
)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: authflow {command}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["create-admin"],
        ["create-admin", "boss"],
        ["create-admin", "boss", "--email", "not-an-address"],
        ["create-admin", "x", "--email", "x@example.com"],
        ["grant-admin"],
        ["set-password"],
        ["set-password", "boss", "new-password"],
        ["disable-user"],
        ["enable-user", "a", "b"],
        ["calibrate-hashing"],
        ["calibrate-hashing", "--target-ms", "0"],
        ["calibrate-hashing", "--target-ms", "100000"],
        ["calibrate-hashing", "--target-ms", "100", "--max-memory-mib", "8192"],
        ["calibrate-hashing", "--target-ms", "100", "--max-memory-mib", "18"],
        ["import-users"],
        ["import-users", "--from-database", "postgresql://h/db", "--batch-size", "0"],
        ["purge", "--force"],
    ],
)
def test_bad_usage_exits_2(argv: list[str], capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == cli.EXIT_USAGE
    assert "usage: authflow" in capsys.readouterr().err


def test_passwords_are_never_arguments(capsys: Any) -> None:
    for argv in (
        ["create-admin", "boss", "--email", "b@example.com", "--password", "hunter2hunter2"],
        ["set-password", "boss", "--password=hunter2hunter2"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == cli.EXIT_USAGE
        err = capsys.readouterr().err
        assert "passwords are never taken as arguments" in err
        assert "hunter2" not in err


def test_argument_errors_name_the_problem(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        cli.main(["create-admin", "x", "--email", "x@example.com"])
    assert "argument USERNAME: must be 3 to 32 characters" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["create-admin", "boss", "--email", "boss@example"])
    assert "argument --email: value is not a valid email address" in capsys.readouterr().err

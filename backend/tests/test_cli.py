"""The ``authflow`` command: rotate-keys end to end, and its errors and exit codes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from authflow import cli, devdb
from authflow.config import Settings
from authflow.kit import jwt as jwt_module
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

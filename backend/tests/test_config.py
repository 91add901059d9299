"""Settings refuse to run production on development defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from authflow.config import Settings
from authflow.kit.server_secret import ServerSecret
from authflow.main import create_app, load_secret

DB = "postgresql://app@db.internal:5432/authflow"
SECRET = "s3cr3t-" * 6


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests are about defaults: whatever the shell exported must not leak in.
    import os

    for name in list(os.environ):
        if name.startswith("AUTHFLOW_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


def test_production_requires_database_and_secret() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(env="production", web_origin="https://app.example.com")
    assert "DATABASE_URL" in str(exc.value)
    assert "AUTHFLOW_SECRET_KEY" in str(exc.value)


def test_production_requires_https_origin() -> None:
    with pytest.raises(ValidationError, match="https"):
        Settings(env="production", database_url=DB, secret_key=SECRET)


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(
            env="production",
            database_url=DB,
            secret_key="changeme",
            web_origin="https://app.example.com",
        )


def test_production_with_real_settings_uses_the_given_secret(tmp_path: Path) -> None:
    settings = Settings(
        env="production",
        database_url=DB,
        secret_key=SECRET,
        web_origin="https://app.example.com",
        keys_dir=tmp_path / "keys",
    )
    assert load_secret(settings).derive("csrf") == ServerSecret(SECRET).derive("csrf")
    assert create_app(settings).state.keys.derivation_key("csrf") == ServerSecret(SECRET).derive(
        "csrf"
    )
    # Nothing generated on disk when the secret is configured.
    assert not (tmp_path / "keys").exists()
    assert SECRET not in repr(settings)  # never printed in logs or tracebacks


def test_development_generates_and_reuses_a_secret(tmp_path: Path) -> None:
    settings = Settings(env="development", database_url=DB, keys_dir=tmp_path / "keys")
    first = load_secret(settings).derive("csrf")
    assert load_secret(settings).derive("csrf") == first


@pytest.mark.parametrize(
    "url", ["postgresql://u@h/d", "postgres://u@h/d", "postgresql+asyncpg://u@h/d"]
)
def test_database_url_forms(url: str) -> None:
    assert Settings(database_url=url).async_database_url == "postgresql+asyncpg://u@h/d"


def test_non_postgres_database_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="postgresql"):
        Settings(database_url="sqlite:///x.db")


def test_password_minimum_cannot_go_below_eight() -> None:
    with pytest.raises(ValidationError):
        Settings(password_min_length=6)


@pytest.mark.parametrize(
    ("name", "value"),
    [("AUTHFLOW_ARGON2_MEMORY_KIB", "19455"), ("AUTHFLOW_ARGON2_TIME_COST", "1")],
)
def test_argon2_cannot_go_below_the_owasp_baseline(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="greater than or equal"):
        Settings()


def test_argon2_settings_reach_the_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHFLOW_ARGON2_MEMORY_KIB", "20480")
    monkeypatch.setenv("AUTHFLOW_ARGON2_TIME_COST", "3")
    app = create_app(Settings(env="test"))
    assert app.state.hasher.hash_sync("a passphrase").startswith("$argon2id$v=19$m=20480,t=3,p=1$")

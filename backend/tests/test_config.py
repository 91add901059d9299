"""Settings refuse to run production on development defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from authflow.config import Settings
from authflow.kit.jwt import SigningKey
from authflow.main import create_app, load_keys

DB = "postgresql://app@db.internal:5432/authflow"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests are about defaults: whatever the shell exported must not leak in.
    import os

    for name in list(os.environ):
        if name.startswith("AUTHFLOW_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


def test_production_requires_database_and_key() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(env="production", web_origin="https://app.example.com")
    assert "DATABASE_URL" in str(exc.value)
    assert "AUTHFLOW_JWT_PRIVATE_KEY" in str(exc.value)


def test_production_requires_https_origin() -> None:
    key = SigningKey.generate().to_pem().decode()
    with pytest.raises(ValidationError, match="https"):
        Settings(env="production", database_url=DB, jwt_private_key=key)


def test_production_with_real_settings_uses_the_given_key() -> None:
    signing = SigningKey.generate()
    settings = Settings(
        env="production",
        database_url=DB,
        jwt_private_key=signing.to_pem().decode(),
        web_origin="https://app.example.com",
    )
    assert load_keys(settings).signing.kid == signing.kid
    assert create_app(settings).state.keys.jwks()["keys"][0]["kid"] == signing.kid


def test_a_key_that_is_not_ed25519_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    settings = Settings(
        env="production", database_url=DB, jwt_private_key=pem, web_origin="https://a.example"
    )
    with pytest.raises(ValueError, match="Ed25519"):
        load_keys(settings)


def test_development_generates_and_reuses_a_key(tmp_path: Path) -> None:
    settings = Settings(env="development", database_url=DB, keys_dir=tmp_path / "keys")
    first = load_keys(settings).signing.kid
    assert (tmp_path / "keys" / "jwt-ed25519.pem").stat().st_mode & 0o077 == 0
    assert load_keys(settings).signing.kid == first


@pytest.mark.parametrize(
    "url", ["postgresql://u@h/d", "postgres://u@h/d", "postgresql+asyncpg://u@h/d"]
)
def test_database_url_forms(url: str) -> None:
    assert Settings(database_url=url).async_database_url == "postgresql+asyncpg://u@h/d"


def test_non_postgres_database_url_is_refused() -> None:
    with pytest.raises(ValueError, match="postgresql"):
        _ = Settings(database_url="sqlite:///x.db").async_database_url


def test_password_minimum_cannot_go_below_eight() -> None:
    with pytest.raises(ValidationError):
        Settings(password_min_length=6)

from __future__ import annotations

from pathlib import Path

import pytest

from authflow.kit.server_secret import (
    ServerSecret,
    UnsealError,
    generate_secret,
    load_or_create_dev_secret,
)


def test_labels_get_distinct_stable_keys() -> None:
    secret = ServerSecret(generate_secret())
    assert secret.derive("csrf") == secret.derive("csrf")
    assert secret.derive("csrf") != secret.derive("refresh-token-successor")
    assert len(secret.derive("csrf")) == 32
    assert ServerSecret("a" * 32).derive("csrf") != ServerSecret("b" * 32).derive("csrf")


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        ServerSecret("too short")


def test_seal_round_trip_and_what_does_not_open() -> None:
    secret = ServerSecret(generate_secret())
    sealed = secret.seal(b"private key", purpose="signing-key", context=b"kid-1")
    assert b"private key" not in sealed
    assert secret.unseal(sealed, purpose="signing-key", context=b"kid-1") == b"private key"
    # Same plaintext twice: different bytes (fresh nonce).
    assert sealed != secret.seal(b"private key", purpose="signing-key", context=b"kid-1")

    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    refused = [
        (secret, sealed, "signing-key", b"kid-2"),  # copied to another row
        (secret, sealed, "totp", b"kid-1"),  # another purpose
        (ServerSecret(generate_secret()), sealed, "signing-key", b"kid-1"),  # another secret
        (secret, tampered, "signing-key", b"kid-1"),
        (secret, b"", "signing-key", b"kid-1"),
        (secret, b"short", "signing-key", b"kid-1"),
    ]
    for who, data, purpose, context in refused:
        with pytest.raises(UnsealError):
            who.unseal(data, purpose=purpose, context=context)


def test_development_secret_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_dev_secret(tmp_path / "keys")
    path = tmp_path / "keys" / "secret-key"
    assert path.stat().st_mode & 0o077 == 0
    assert load_or_create_dev_secret(tmp_path / "keys").derive("x") == first.derive("x")
    assert list((tmp_path / "keys").iterdir()) == [path]

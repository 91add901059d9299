"""The one server secret (``AUTHFLOW_SECRET_KEY``) and what is derived from it.

Every feature that needs a secret of its own (CSRF tokens, refresh-token successors,
sealing signing keys at rest, later TOTP secrets) derives it from this one with HKDF and
a label, so a deployment configures a single value and no two features share a key.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_SECRET_LENGTH = 32
NONCE_BYTES = 12
DEV_SECRET_FILE = "secret-key"


class UnsealError(Exception):
    """Sealed data that this secret did not seal (another secret, or tampered bytes)."""


class ServerSecret:
    def __init__(self, value: str) -> None:
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(f"the server secret must be at least {MIN_SECRET_LENGTH} characters")
        self._ikm = value.encode()
        self._derived: dict[str, bytes] = {}

    def derive(self, label: str) -> bytes:
        """32 bytes for ``label``. Cached: the CSRF check asks on every unsafe request."""
        key = self._derived.get(label)
        if key is None:
            key = self._derived[label] = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=f"authflow:{label}".encode()
            ).derive(self._ikm)
        return key

    def seal(self, plaintext: bytes, *, purpose: str, context: bytes) -> bytes:
        """AES-256-GCM under a key for ``purpose``; ``context`` (e.g. a row's id) is bound
        as associated data, so sealed bytes copied to another row do not open there."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.derive(f"seal:{purpose}")).encrypt(nonce, plaintext, context)

    def unseal(self, sealed: bytes, *, purpose: str, context: bytes) -> bytes:
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            return AESGCM(self.derive(f"seal:{purpose}")).decrypt(nonce, ciphertext, context)
        except (InvalidTag, ValueError) as exc:
            raise UnsealError(purpose) from exc


def generate_secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


def load_or_create_dev_secret(keys_dir: Path) -> ServerSecret:
    """Development and tests: one secret per checkout under var/keys, made on first start."""
    path = keys_dir / DEV_SECRET_FILE
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        # Temp file then link, so two processes starting at once never read a half-written
        # secret; the loser reads the winner's.
        tmp = keys_dir / f".secret-{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(generate_secret())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return ServerSecret(path.read_text().strip())

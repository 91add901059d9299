"""Access tokens: EdDSA (Ed25519) JWTs with a published JWKS.

Asymmetric keys let services that only need identity verify tokens offline against
/.well-known/jwks.json without ever holding a secret that could mint one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"  # RFC 9068: marks an access token, so an ID or other token can't pose as one


class InvalidToken(Exception):
    """Any reason a token is unusable; callers answer 401 without saying which."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        data = pem.encode() if isinstance(pem, str) else pem
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the JWT signing key must be an Ed25519 private key (PEM)")
        return cls(kid=_thumbprint(key.public_key()), private_key=key)

    @classmethod
    def generate(cls) -> SigningKey:
        key = Ed25519PrivateKey.generate()
        return cls(kid=_thumbprint(key.public_key()), private_key=key)

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(_raw_public(self.public_key)),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: a kid derived from the key itself."""
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(key))},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def load_or_create_dev_key(keys_dir: Path) -> SigningKey:
    """Development and tests: one key per checkout under var/keys, made on first start."""
    path = keys_dir / "jwt-ed25519.pem"
    if path.exists():
        return SigningKey.from_pem(path.read_bytes())
    keys_dir.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    # Write to a temp file then rename, so two processes starting at once never read
    # a half-written key; the loser's key is simply replaced by the winner's.
    tmp = keys_dir / f".jwt-{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.to_pem())
    try:
        os.link(tmp, path)
    except FileExistsError:
        key = SigningKey.from_pem(path.read_bytes())
    finally:
        tmp.unlink(missing_ok=True)
    return key


# Verified tokens remembered per process. A client presents the same access token for
# its whole lifetime; re-checking an unchanged signature on every request is the largest
# CPU cost of an authenticated call. The cache is keyed by the exact token string and
# only ever holds tokens whose signature and claims passed, and expiry is still checked on
# every hit, so it can make a valid token cheaper but never an invalid one acceptable.
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class VerifiedToken:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: int


class KeyRing:
    """The key that signs new tokens plus every public key still accepted."""

    def __init__(self, signing: SigningKey, *, issuer: str, audience: str) -> None:
        self.signing = signing
        self.issuer = issuer
        self.audience = audience
        self._verify_keys: dict[str, Ed25519PublicKey] = {signing.kid: signing.public_key}
        self._jwks = {"keys": [signing.public_jwk()]}
        self._verified: OrderedDict[str, VerifiedToken] = OrderedDict()
        self._derived: dict[str, bytes] = {}

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def derivation_key(self, label: str) -> bytes:
        """A secret for ``label`` derived from the signing key, so features that need a
        server secret (refresh-token successors, CSRF tokens) add no configuration of their
        own. Computed once per label: the CSRF check asks on every unsafe request."""
        key = self._derived.get(label)
        if key is None:
            raw = self.signing.private_key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            key = self._derived[label] = hmac.new(
                raw, f"authflow:{label}".encode(), hashlib.sha256
            ).digest()
        return key

    def issue_access_token(
        self, *, subject: uuid.UUID, session_id: uuid.UUID, now: datetime, ttl: timedelta
    ) -> str:
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(subject),
            "sid": str(session_id),
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            claims,
            self.signing.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self.signing.kid, "typ": TOKEN_TYPE},
        )

    def verify_access_token(
        self, token: str, *, verify_exp: bool = True
    ) -> tuple[uuid.UUID, uuid.UUID]:
        """Return (user id, session id) or raise InvalidToken."""
        cached = self._verified.get(token)
        if cached is None:
            cached = self._verify_signature_and_claims(token)
            self._verified[token] = cached
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        if verify_exp and cached.expires_at <= time.time():
            raise InvalidToken("expired")
        return cached.user_id, cached.session_id

    def _verify_signature_and_claims(self, token: str) -> VerifiedToken:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
                raise InvalidToken("unexpected header")
            key = self._verify_keys.get(str(header.get("kid")))
            if key is None:
                raise InvalidToken("unknown key")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # Expiry is checked by the caller on every use, cached or not.
                options={
                    "require": ["iss", "aud", "sub", "sid", "iat", "exp", "jti"],
                    "verify_exp": False,
                },
            )
            return VerifiedToken(
                user_id=uuid.UUID(str(claims["sub"])),
                session_id=uuid.UUID(str(claims["sid"])),
                expires_at=int(claims["exp"]),
            )
        except InvalidToken:
            raise
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken(str(exc)) from exc

"""Access tokens: EdDSA (Ed25519) JWTs with a published JWKS.

Asymmetric keys let services that only need identity verify tokens offline against
/.well-known/jwks.json without ever holding a secret that could mint one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from authflow.kit.server_secret import ServerSecret

ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"  # RFC 9068: marks an access token, so an ID or other token can't pose as one


class InvalidToken(Exception):
    """Any reason a token is unusable; callers answer 401 without saying which."""


class UnknownSigningKey(InvalidToken):
    """The token names a key this process has not loaded (yet): maybe a newer one."""


class KeysUnavailable(Exception):
    """No signing key has been loaded yet (the database was unreachable at start)."""


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
    def generate(cls) -> SigningKey:
        key = Ed25519PrivateKey.generate()
        return cls(kid=_thumbprint(key.public_key()), private_key=key)

    def private_bytes(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    @classmethod
    def from_private_bytes(cls, data: bytes) -> SigningKey:
        key = Ed25519PrivateKey.from_private_bytes(data)
        return cls(kid=_thumbprint(key.public_key()), private_key=key)

    def verify_key(self) -> VerifyKey:
        return VerifyKey(kid=self.kid, public_key=self.public_key)


@dataclass(frozen=True)
class VerifyKey:
    """A public key still accepted for tokens it signed, and published in the JWKS."""

    kid: str
    public_key: Ed25519PublicKey

    @classmethod
    def from_public_bytes(cls, data: bytes) -> VerifyKey:
        key = Ed25519PublicKey.from_public_bytes(data)
        return cls(kid=_thumbprint(key), public_key=key)

    def public_bytes(self) -> bytes:
        return _raw_public(self.public_key)

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(_raw_public(self.public_key)),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }


@dataclass(frozen=True)
class KeySet:
    """What a process signs with, and every key it accepts (the signing key included)."""

    signing: SigningKey
    verify: tuple[VerifyKey, ...]


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


# A token naming an unknown key makes the ring re-read the keys at most this often, so a
# flood of tokens with made-up kids costs one query per interval, not one per request.
UNKNOWN_KID_RELOAD_INTERVAL = 5.0


class KeyRing:
    """The key that signs new tokens plus every public key still accepted.

    Keys live in the database, shared by every API process. ``load`` reads them; the
    ring calls it when asked to reload (periodically, from the app's lifespan) and when
    a token names a key it has not seen, which is how a process learns of a rotation
    that another process or the CLI made.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        load: Callable[[], Awaitable[KeySet]],
        secret: ServerSecret,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._load = load
        self.secret = secret
        self._monotonic = monotonic
        self._keyset: KeySet | None = None
        self._verify_keys: dict[str, Ed25519PublicKey] = {}
        self._jwks: dict[str, Any] = {"keys": []}
        self._loaded_at = float("-inf")
        # Only reloads caused by unknown kids count against their rate limit: counting the
        # periodic ones too kept a process that had re-read the keys just before a rotation
        # refusing the new key's tokens (signed by a process that re-read just after) until
        # its next periodic reload; with AUTHFLOW_KEY_RELOAD_SECONDS under the interval, it
        # never reloaded for an unknown kid at all.
        self._unknown_kid_reload_at = float("-inf")
        self._reload_lock = asyncio.Lock()
        self._verified: OrderedDict[str, VerifiedToken] = OrderedDict()

    @property
    def signing(self) -> SigningKey:
        if self._keyset is None:
            raise KeysUnavailable
        return self._keyset.signing

    def install(self, keyset: KeySet) -> None:
        self._keyset = keyset
        self._verify_keys = {k.kid: k.public_key for k in keyset.verify}
        self._jwks = {"keys": [k.public_jwk() for k in keyset.verify]}

    async def reload(self) -> None:
        started = self._monotonic()
        async with self._reload_lock:
            # Callers that queued behind a reload share its result.
            if self._loaded_at >= started:
                return
            keyset = await self._load()
            self.install(keyset)
            self._loaded_at = self._monotonic()

    async def ensure_loaded(self) -> None:
        if self._keyset is None:
            await self.reload()

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def derivation_key(self, label: str) -> bytes:
        """A secret for ``label`` (refresh-token successors, CSRF tokens), derived from the
        server secret rather than a signing key, so rotating keys changes neither."""
        return self.secret.derive(label)

    async def verify(self, token: str, *, verify_exp: bool = True) -> tuple[uuid.UUID, uuid.UUID]:
        """``verify_access_token``, re-reading the keys once if the token names an unknown
        one (rate-limited)."""
        try:
            return self.verify_access_token(token, verify_exp=verify_exp)
        except UnknownSigningKey:
            now = self._monotonic()
            if (
                self._keyset is not None
                and now - self._unknown_kid_reload_at < UNKNOWN_KID_RELOAD_INTERVAL
            ):
                raise
            self._unknown_kid_reload_at = now
        await self.reload()
        return self.verify_access_token(token, verify_exp=verify_exp)

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
                raise UnknownSigningKey(str(header.get("kid")))
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

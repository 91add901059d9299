"""Opaque tokens: random values handed out once, stored only as their SHA-256."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

TOKEN_BYTES = 32  # 256 bits
# Ours are 43 characters; anything much longer is refused before hashing or querying.
MAX_REFRESH_TOKEN_LENGTH = 256


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the database keeps: a leak of the table hands out no usable token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def derive_token(key: bytes, parent: str) -> str:
    """A successor computable again from its parent, but only with the server's key.

    Rotation uses it so that a retry with the same parent within the grace window gets
    the very same successor without the server ever storing a token in the clear.
    """
    digest = hmac.new(key, parent.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def csrf_token(key: bytes, session_id: uuid.UUID) -> str:
    """The double-submit token of one session: derived, so nothing is stored and it
    survives refreshes, and bound to the session, so one session's token is useless in
    another."""
    digest = hmac.new(key, b"csrf:" + session_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def same_token(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())

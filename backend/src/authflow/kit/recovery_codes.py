"""Recovery codes: ten single-use codes a user writes down in case the authenticator
is lost. Each is 10 characters from a 31-symbol alphabet without look-alikes (49 bits),
shown as ``xxxxx-xxxxx`` and accepted in any case, with or without the hyphen."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

COUNT = 10
LENGTH = 10
# Lower-case letters and digits without the look-alikes 0/o, 1/l/i.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_NORMAL = re.compile(rf"[{ALPHABET}]{{{LENGTH}}}")


def generate() -> list[str]:
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def normalise(raw: str) -> str | None:
    """The code as stored, or None when ``raw`` cannot be a recovery code at all."""
    candidate = raw.lower().replace("-", "", 1) if raw.count("-") <= 1 else ""
    return candidate if _NORMAL.fullmatch(candidate) else None


def code_hash(key: bytes, normalised: str) -> str:
    """Keyed, so a copy of the table alone is no help in guessing codes; the codes are
    random enough that a slow hash would add nothing else."""
    return hmac.new(key, normalised.encode("ascii"), hashlib.sha256).hexdigest()

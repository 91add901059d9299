"""Password rules after NIST SP 800-63B and OWASP ASVS 5.0.

Length bounds, a blocklist of common passwords and no reuse of the account's own
identifiers. No composition rules: they make passwords harder to remember, not to guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from authflow.errors import ErrorCode
from authflow.kit.text import identifier_key


@dataclass(frozen=True)
class PasswordProblem:
    code: ErrorCode
    message: str


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common passwords from real leaks (xato corpus).
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(identifier_key(p) for p in FREQUENCY_LISTS["passwords"])


def warm_up() -> None:
    """Load the blocklist at start-up rather than on the first sign-up."""
    _common_passwords()


def check_password(
    password: str,
    *,
    min_length: int,
    max_length: int,
    username: str | None = None,
    email: str | None = None,
) -> PasswordProblem | None:
    # Length is counted in characters (code points), as NIST asks, and checked before any
    # hashing so an oversized password costs nothing.
    if len(password) > max_length:
        return PasswordProblem(
            ErrorCode.PASSWORD_TOO_LONG, f"Password must be at most {max_length} characters."
        )
    if len(password) < min_length:
        return PasswordProblem(
            ErrorCode.PASSWORD_TOO_SHORT, f"Password must be at least {min_length} characters."
        )
    folded = identifier_key(password)
    if folded in _common_passwords():
        return PasswordProblem(
            ErrorCode.PASSWORD_TOO_COMMON,
            "This password is too common and easy to guess; choose another.",
        )
    for label, value in (("username", username), ("email address", _local_part(email))):
        key = identifier_key(value) if value else ""
        # Short identifiers ("al") would forbid too much; 3+ characters is a real reuse.
        if len(key) >= 3 and key in folded:
            return PasswordProblem(
                ErrorCode.PASSWORD_CONTAINS_USER_INFO,
                f"Password must not contain your {label}.",
            )
    return None


def _local_part(email: str | None) -> str | None:
    if not email or "@" not in email:
        return email
    return email.rsplit("@", 1)[0]

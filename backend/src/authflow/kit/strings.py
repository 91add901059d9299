"""String types for request fields that PostgreSQL and the hashers can always accept.

A NUL byte or a lone UTF-16 surrogate ("\\ud800" in JSON) is valid in a Python str but
makes PostgreSQL or UTF-8 encoding fail deep in the stack; rejecting them at the edge
turns what would be a 500 into a clear 422.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator


def _encodable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _single_line(value: str) -> str:
    _encodable(value)
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise ValueError("must not contain control or invisible formatting characters")
    return value


def _multi_line(value: str) -> str:
    _encodable(value)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in value):
        raise ValueError("must not contain control characters")
    return value


# Passwords: anything printable or not, as NIST asks, but it must encode.
SafeStr = Annotated[str, AfterValidator(_encodable)]
# Names and identifiers: one line of visible text.
LineStr = Annotated[str, AfterValidator(_single_line)]
# Free text such as notes: newlines and tabs allowed.
TextStr = Annotated[str, AfterValidator(_multi_line)]

"""Canonical forms of identifiers, so "Alice", "ALICE" and "Ａｌｉｃｅ" are one account."""

import unicodedata


def identifier_key(value: str) -> str:
    """NFKC + casefold (+ NFKC again, since casefold can denormalise), trimmed."""
    folded = unicodedata.normalize("NFKC", value.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)

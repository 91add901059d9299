from __future__ import annotations

import re

import pytest

from authflow.kit import recovery_codes

KEY = b"k" * 32


def test_ten_distinct_codes_in_the_display_format() -> None:
    codes = recovery_codes.generate()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code) for code in codes)
    assert not set("".join(codes)) & set("01ilo")


@pytest.mark.parametrize("typed", ["abcde-fghjk", "ABCDE-FGHJK", "abcdefghjk", "AbCdEfGhJk"])
def test_case_and_the_hyphen_do_not_matter(typed: str) -> None:
    assert recovery_codes.normalise(typed) == "abcdefghjk"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "abcde",
        "abcde-fghjkm",
        "abcde--fghjk",
        "abcde fghjk",
        "abcde-fghj1",
        "123456",
        "ａｂｃｄｅ-ｆｇｈｊｋ",
        "abcde-fghjk\n",
        "x" * 10_000,
    ],
)
def test_anything_else_is_not_a_recovery_code(typed: str) -> None:
    assert recovery_codes.normalise(typed) is None


def test_hashes_are_keyed() -> None:
    assert recovery_codes.code_hash(KEY, "abcdefghjk") != recovery_codes.code_hash(
        b"j" * 32, "abcdefghjk"
    )
    assert len(recovery_codes.code_hash(KEY, "abcdefghjk")) == 64

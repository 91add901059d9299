from __future__ import annotations

from authflow.errors import ErrorCode
from authflow.kit.password_policy import check_password


def check(password: str, **kw: str) -> ErrorCode | None:
    problem = check_password(password, min_length=8, max_length=1024, **kw)
    return problem.code if problem else None


def test_length_counts_characters_not_bytes() -> None:
    assert check("ééééééé") == ErrorCode.PASSWORD_TOO_SHORT  # 7 chars, 14 bytes
    assert check("日本語のパスワード") is None


def test_no_composition_rules() -> None:
    assert check("all lowercase words here") is None


def test_common_passwords_are_refused_in_any_case() -> None:
    assert check("PASSWORD") == ErrorCode.PASSWORD_TOO_COMMON
    assert check("Superman") == ErrorCode.PASSWORD_TOO_COMMON


def test_user_info() -> None:
    assert check("zz-bobby-zz", username="bobby") == ErrorCode.PASSWORD_CONTAINS_USER_INFO
    assert check("zz-bo-zz-zz", username="bo") is None
    assert (
        check("sam.smith!!", email="sam.smith@example.com") == ErrorCode.PASSWORD_CONTAINS_USER_INFO
    )
    assert check("an unrelated passphrase", username="bobby", email="b@example.com") is None

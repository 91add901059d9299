from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pyotp

from authflow.kit import totp

MOMENT = datetime(2026, 11, 26, 12, 0, 10, tzinfo=UTC)


def code(secret: str, moment: datetime) -> str:
    # An independent implementation (pyotp's own TOTP.at) as the reference.
    return str(pyotp.TOTP(secret).at(moment))


def test_secrets_are_160_random_bits() -> None:
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(len(base64.b32decode(s)) == 20 for s in secrets)


def test_the_current_and_the_previous_step_match() -> None:
    secret = totp.new_secret()
    step = totp.step_at(MOMENT)
    assert totp.matching_step(secret, code(secret, MOMENT), now=MOMENT, after=None) == step
    earlier = MOMENT - timedelta(seconds=30)
    assert totp.matching_step(secret, code(secret, earlier), now=MOMENT, after=None) == step - 1


def test_steps_further_away_do_not_match() -> None:
    secret = totp.new_secret()
    for steps in (-3, -2, 1, 2, 3):
        other = code(secret, MOMENT + timedelta(seconds=30 * steps))
        if other in {code(secret, MOMENT), code(secret, MOMENT - timedelta(seconds=30))}:
            continue  # a one-in-a-million collision of six digits
        assert totp.matching_step(secret, other, now=MOMENT, after=None) is None


def test_a_step_at_or_before_the_last_used_one_does_not_match() -> None:
    secret = totp.new_secret()
    step = totp.step_at(MOMENT)
    current = code(secret, MOMENT)
    assert totp.matching_step(secret, current, now=MOMENT, after=step) is None
    previous = code(secret, MOMENT - timedelta(seconds=30))
    assert totp.matching_step(secret, previous, now=MOMENT, after=step - 1) is None
    assert totp.matching_step(secret, current, now=MOMENT, after=step - 1) == step


def test_another_secrets_code_does_not_match() -> None:
    mine, theirs = totp.new_secret(), totp.new_secret()
    theirs_now = code(theirs, MOMENT)
    if theirs_now not in {code(mine, MOMENT), code(mine, MOMENT - timedelta(seconds=30))}:
        assert totp.matching_step(mine, theirs_now, now=MOMENT, after=None) is None


def test_the_provisioning_uri_names_issuer_and_account() -> None:
    uri = totp.provisioning_uri(
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", account="alice@example.com", issuer="Acme"
    )
    assert uri == (
        "otpauth://totp/Acme:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Acme"
    )


def test_the_qr_code_is_a_standalone_svg_without_scripts() -> None:
    svg = totp.qr_svg("otpauth://totp/Acme:a?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Acme")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert "<script" not in svg.lower() and "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" not in svg

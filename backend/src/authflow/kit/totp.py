"""Time-based one-time passwords (RFC 6238: SHA-1, 6 digits, 30-second steps, the
parameters every authenticator app supports), and the enrolment QR code."""

from __future__ import annotations

import hmac
import io
import re
from datetime import datetime

import pyotp
import segno

STEP_SECONDS = 30
DIGITS = 6
# 32 base32 characters: 160 bits, the key length RFC 4226 recommends.
SECRET_LENGTH = 32
CODE_PATTERN = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    return pyotp.random_base32(length=SECRET_LENGTH)


def step_at(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def matching_step(secret: str, code: str, *, now: datetime, after: int | None) -> int | None:
    """The step ``code`` belongs to if it is the current one or the one before (a code
    typed just as it rolled over), and newer than ``after``, the last step accepted;
    otherwise None. Both candidates are always computed and compared in constant time."""
    current = step_at(now)
    found = None
    for step in (current, current - 1):
        if hmac.compare_digest(code_at_step(secret, step), code) and found is None:
            found = step
    if found is None or (after is not None and found <= after):
        return None
    return found


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as a standalone SVG document, drawn here so the secret never goes to an
    image service."""
    out = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        out, kind="svg", xmldecl=False, scale=4, border=2, dark="#000", light="#fff"
    )
    return out.getvalue().decode("utf-8")

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from authflow.kit.strings import SafeStr

# Codes are six digits or "xxxxx-xxxxx"; anything much longer is refused before any work.
Code = Annotated[
    str,
    Field(
        strict=True,
        min_length=1,
        max_length=32,
        description="A 6-digit code from the authenticator app, or a recovery code",
    ),
]


class TwoFactorStatus(BaseModel):
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int


class TwoFactorEnrolment(BaseModel):
    """Show ``qr_svg`` (or ``secret`` for typing in) and confirm with a code from it."""

    secret: str = Field(description="Base32 TOTP secret")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as a standalone SVG QR code")


class TwoFactorCodeRequest(BaseModel):
    code: Code


class RecoveryCodes(BaseModel):
    """Shown once: only hashes are kept."""

    recovery_codes: list[str]


class TwoFactorChallengeResponse(BaseModel):
    """The password was right; the session starts after POST /api/auth/login/2fa."""

    two_factor_required: Literal[True] = True
    expires_in: int


class StepUpRequest(BaseModel):
    """The password for accounts without two-factor; a code for accounts with it."""

    password: Annotated[SafeStr | None, Field(min_length=1, max_length=4096)] = None
    code: Code | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StepUpRequest:
        if (self.password is None) == (self.code is None):
            raise ValueError("send either password or code")
        return self


class StepUpResponse(BaseModel):
    expires_in: int = Field(description="Seconds before sensitive actions ask again")

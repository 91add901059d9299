from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from authflow.kit.strings import LineStr, SafeStr


class LoginRequest(BaseModel):
    login: Annotated[LineStr, Field(min_length=1, max_length=320, description="Username or email")]
    password: Annotated[SafeStr, Field(min_length=1, max_length=4096)]
    remember_me: Annotated[bool, Field(strict=True)] = False


class TokenResponse(BaseModel):
    """RFC 6749 section 5.1 access token response."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class RefreshResponse(BaseModel):
    """The browser's refresh: the tokens travel in cookies only."""

    expires_in: int


class OAuthErrorResponse(BaseModel):
    """RFC 6749 section 5.2 error, alongside our own code/detail pair."""

    code: str
    detail: str
    error: str
    error_description: str


class MfaRequiredResponse(OAuthErrorResponse):
    """403 from /token for an account with two-factor: repeat the request with
    grant_type=urn:authflow:params:oauth:grant-type:mfa-otp, this mfa_token and otp=<code>."""

    mfa_token: str
    expires_in: int

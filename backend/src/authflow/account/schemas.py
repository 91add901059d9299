from __future__ import annotations

from pydantic import BaseModel

from authflow.email.schemas import EmailTokenRequest
from authflow.user.schemas import Email, Password


class ForgotPasswordRequest(BaseModel):
    email: Email


class ForgotPasswordResponse(BaseModel):
    detail: str


class ResetPasswordRequest(EmailTokenRequest):
    password: Password


class ChangePasswordRequest(BaseModel):
    current_password: Password
    new_password: Password


class ChangeEmailRequest(BaseModel):
    current_password: Password
    new_email: Email


class EmailChangeRequested(BaseModel):
    pending_email: str
    expires_in_minutes: int

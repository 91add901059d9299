"""Forgot and reset password; change password and email address."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from authflow.account import service as account_service
from authflow.account.schemas import (
    ChangeEmailRequest,
    ChangePasswordRequest,
    EmailChangeRequested,
    ForgotPasswordRequest,
    ForgotPasswordResponse,
    ResetPasswordRequest,
)
from authflow.auth.dependencies import ClientInfoDep, CurrentUser
from authflow.db import SessionDep
from authflow.dependencies import (
    AutocommitEngineDep,
    DeferredDep,
    HasherDep,
    SessionmakerDep,
    SettingsDep,
    ThrottleDep,
)
from authflow.email.router import TOKEN_ERRORS
from authflow.email.schemas import EmailTokenRequest, VerifiedResponse
from authflow.errors import ErrorResponse

router = APIRouter(prefix="/api/auth", tags=["account"])

FORGOT_PASSWORD_ANSWER = (
    "If an account uses this address, a link to reset its password is on its way."
)
SIGNED_IN_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse, "description": "current password not correct"},
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse, "description": "CSRF token missing or wrong"},
    422: {"model": ErrorResponse},
}


@router.post(
    "/forgot-password",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ForgotPasswordResponse,
    responses={422: {"model": ErrorResponse}, 429: {"model": ErrorResponse}},
)
async def forgot_password(
    body: ForgotPasswordRequest,
    settings: SettingsDep,
    throttle: ThrottleDep,
    client: ClientInfoDep,
    lookup: AutocommitEngineDep,
    sessionmaker: SessionmakerDep,
    deferred: DeferredDep,
) -> ForgotPasswordResponse:
    """Email a reset link if an account uses this address. The answer is the same
    whether or not one does."""
    # Per client address only: a limit per email address would answer differently for
    # addresses someone is hammering, and the per-user interval already caps the mail.
    await throttle.limit("forgot-password", ip=client.ip)
    await account_service.request_password_reset(
        email=str(body.email),
        client=client,
        lookup=lookup,
        sessionmaker=sessionmaker,
        deferred=deferred,
        settings=settings,
    )
    return ForgotPasswordResponse(detail=FORGOT_PASSWORD_ANSWER)


@router.post("/reset-password", status_code=status.HTTP_204_NO_CONTENT, responses=TOKEN_ERRORS)
async def reset_password(
    body: ResetPasswordRequest,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    lookup: AutocommitEngineDep,
    throttle: ThrottleDep,
    client: ClientInfoDep,
) -> Response:
    """Set a new password with the link from the email. Every session of the account
    ends; the user signs in again with the new password."""
    async with throttle.guarding_token(ip=client.ip):
        user = await account_service.reset_password(
            session,
            token=body.token,
            client=client,
            password=body.password,
            lookup=lookup,
            hasher=hasher,
            settings=settings,
        )
    # The reset proved the account's address: lift a consecutive-failure lock.
    await throttle.account_recovered(logins=[name for name in (user.username, user.email) if name])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/change-password", status_code=status.HTTP_204_NO_CONTENT, responses=SIGNED_IN_ERRORS)
async def change_password(
    body: ChangePasswordRequest,
    current_user: CurrentUser,
    client: ClientInfoDep,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    lookup: AutocommitEngineDep,
) -> Response:
    """Change the signed-in user's password; their other sessions end."""
    await account_service.change_password(
        session,
        current_user=current_user,
        client=client,
        current_password=body.current_password,
        new_password=body.new_password,
        lookup=lookup,
        hasher=hasher,
        settings=settings,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/change-email",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EmailChangeRequested,
    responses={
        **SIGNED_IN_ERRORS,
        409: {"model": ErrorResponse, "description": "address in use"},
        429: {"model": ErrorResponse},
    },
)
async def change_email(
    body: ChangeEmailRequest,
    current_user: CurrentUser,
    client: ClientInfoDep,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    lookup: AutocommitEngineDep,
) -> EmailChangeRequested:
    """Send a confirmation link to the new address (and a notice to the current one).
    The address changes when that link is opened."""
    await account_service.request_email_change(
        session,
        current_user=current_user,
        client=client,
        current_password=body.current_password,
        new_email=str(body.new_email),
        lookup=lookup,
        hasher=hasher,
        settings=settings,
    )
    return EmailChangeRequested(
        pending_email=str(body.new_email),
        expires_in_minutes=settings.email_change_ttl_minutes,
    )


@router.post(
    "/confirm-email-change",
    response_model=VerifiedResponse,
    responses={**TOKEN_ERRORS, 409: {"model": ErrorResponse, "description": "address in use"}},
)
async def confirm_email_change(
    body: EmailTokenRequest, session: SessionDep, throttle: ThrottleDep, client: ClientInfoDep
) -> VerifiedResponse:
    """Switch to the address the link was sent to. Needs no sign-in: the link may be
    opened on another device."""
    async with throttle.guarding_token(ip=client.ip):
        user = await account_service.confirm_email_change(session, token=body.token, client=client)
    assert user.email is not None
    return VerifiedResponse(email=user.email, is_verified=user.is_verified)

"""Email verification: open the link, or ask for another."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from authflow.audit import service as audit
from authflow.audit.service import EventKind
from authflow.auth.dependencies import ClientInfoDep, CurrentUser
from authflow.db import SessionDep
from authflow.dependencies import SettingsDep, ThrottleDep
from authflow.email import service as email_service
from authflow.email.schemas import EmailTokenRequest, VerifiedResponse
from authflow.errors import ErrorResponse

router = APIRouter(prefix="/api/auth", tags=["email"])

TOKEN_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse, "description": "invalid, expired or used link"},
    422: {"model": ErrorResponse},
    429: {"model": ErrorResponse, "description": "too many dead links from this address"},
}


@router.post("/verify-email", response_model=VerifiedResponse, responses=TOKEN_ERRORS)
async def verify_email(
    body: EmailTokenRequest, session: SessionDep, throttle: ThrottleDep, client: ClientInfoDep
) -> VerifiedResponse:
    """Mark the address the link was sent to as verified. Needs no sign-in: the link
    may be opened on another device."""
    async with throttle.guarding_token(ip=client.ip):
        user = await email_service.verify_email(session, token=body.token)
    await audit.record(session, EventKind.email_verified, user_id=user.id, client=client)
    assert user.email is not None
    return VerifiedResponse(email=user.email, is_verified=user.is_verified)


@router.post(
    "/resend-verification",
    status_code=status.HTTP_202_ACCEPTED,
    # No body: without this the schema would promise JSON.
    response_class=Response,
    responses={
        401: {"model": ErrorResponse},
        409: {"model": ErrorResponse},
        429: {"model": ErrorResponse},
    },
)
async def resend_verification(
    current_user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> Response:
    """Send a new verification link to the signed-in user's address."""
    await email_service.resend_verification(session, user_id=current_user.id, settings=settings)
    return Response(status_code=status.HTTP_202_ACCEPTED)

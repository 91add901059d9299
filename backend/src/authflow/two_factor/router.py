"""Two-factor settings of the signed-in user, and step-up (proving it's you again before
a sensitive action). The sign-in's code step is in auth.router."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from authflow.account import service as account_service
from authflow.audit import service as audit
from authflow.audit.service import EventKind
from authflow.auth.dependencies import ClientInfoDep, CurrentUser, RecentUser
from authflow.auth.service import AuthUser, ClientInfo
from authflow.db import SessionDep
from authflow.dependencies import (
    AutocommitEngineDep,
    HasherDep,
    KeysDep,
    SettingsDep,
    ThrottleDep,
)
from authflow.errors import AppError, ErrorCode, ErrorResponse, FieldError
from authflow.kit.jwt import KeyRing
from authflow.throttle.service import Throttle
from authflow.two_factor import service as two_factor
from authflow.two_factor.schemas import (
    RecoveryCodes,
    StepUpRequest,
    StepUpResponse,
    TwoFactorCodeRequest,
    TwoFactorEnrolment,
    TwoFactorStatus,
)

SIGNED_IN: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse, "description": "CSRF, or STEP_UP_REQUIRED"},
    422: {"model": ErrorResponse},
}

router = APIRouter(prefix="/api/auth", tags=["two-factor"], responses=SIGNED_IN)


@router.get("/2fa", response_model=TwoFactorStatus)
async def get_status(current_user: CurrentUser, session: SessionDep) -> TwoFactorStatus:
    """Whether two-factor is on, and how many recovery codes are left."""
    found = await two_factor.status(session, current_user.id)
    return TwoFactorStatus(
        enabled=found.enabled,
        enabled_at=found.enabled_at,
        recovery_codes_left=found.recovery_codes_left,
    )


@router.post(
    "/2fa/enrol",
    response_model=TwoFactorEnrolment,
    responses={409: {"model": ErrorResponse, "description": "already on"}},
)
async def start_enrolment(
    current_user: RecentUser, session: SessionDep, settings: SettingsDep, keys: KeysDep
) -> TwoFactorEnrolment:
    """A new secret to add to an authenticator app. Nothing changes until it is
    confirmed with a code; starting again replaces an unconfirmed secret."""
    enrolment = await two_factor.start_enrolment(
        session, user=current_user, secret=keys.secret, settings=settings
    )
    return TwoFactorEnrolment(
        secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_svg=enrolment.qr_svg
    )


@router.post(
    "/2fa/enrol/confirm",
    response_model=RecoveryCodes,
    responses={
        400: {"model": ErrorResponse, "description": "TWO_FACTOR_CODE_INVALID"},
        409: {"model": ErrorResponse, "description": "not started, or already on"},
    },
)
async def confirm_enrolment(
    body: TwoFactorCodeRequest,
    current_user: CurrentUser,
    client: ClientInfoDep,
    session: SessionDep,
    settings: SettingsDep,
    keys: KeysDep,
) -> RecoveryCodes:
    """Turn two-factor on with a code from the new secret. The ten recovery codes in the
    answer are shown only this once."""
    codes = await two_factor.confirm_enrolment(
        session,
        user=current_user,
        code=body.code,
        secret=keys.secret,
        settings=settings,
        client=client,
    )
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/2fa/recovery-codes",
    response_model=RecoveryCodes,
    responses={409: {"model": ErrorResponse, "description": "two-factor is off"}},
)
async def regenerate_recovery_codes(
    current_user: RecentUser, client: ClientInfoDep, session: SessionDep, keys: KeysDep
) -> RecoveryCodes:
    """Ten new recovery codes; the old ones stop working."""
    codes = await two_factor.regenerate_recovery_codes(
        session, user=current_user, secret=keys.secret, client=client
    )
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/2fa/disable",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"model": ErrorResponse, "description": "two-factor is off"}},
)
async def disable(
    current_user: RecentUser, client: ClientInfoDep, session: SessionDep, settings: SettingsDep
) -> Response:
    """Turn two-factor off (a notice goes to the account's address)."""
    await two_factor.disable(session, user=current_user, settings=settings, client=client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/step-up",
    response_model=StepUpResponse,
    responses={
        400: {"model": ErrorResponse, "description": "wrong password or code"},
        429: {"model": ErrorResponse, "description": "Too many attempts; see Retry-After"},
    },
)
async def step_up(
    body: StepUpRequest,
    current_user: CurrentUser,
    client: ClientInfoDep,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    keys: KeysDep,
    lookup: AutocommitEngineDep,
    throttle: ThrottleDep,
) -> StepUpResponse:
    """Prove it's you again: the password, or a code for accounts with two-factor. For
    the next few minutes, sensitive actions of this session go through."""
    if await two_factor.is_enabled(session, current_user.id):
        await _verify_code(
            session,
            body=body,
            user=current_user,
            client=client,
            keys=keys,
            lookup=lookup,
            throttle=throttle,
        )
        method = "code"
    else:
        await _verify_password(
            body=body,
            user=current_user,
            client=client,
            hasher=hasher,
            lookup=lookup,
            throttle=throttle,
        )
        method = "password"
    await two_factor.mark_authenticated(session, session_id=current_user.session_id)
    await audit.record(
        session,
        EventKind.step_up,
        user_id=current_user.id,
        session_id=current_user.session_id,
        client=client,
        detail={"method": method},
    )
    return StepUpResponse(expires_in=settings.step_up_window_seconds)


def _wrong_kind(field: str, message: str) -> AppError:
    return AppError(
        ErrorCode.VALIDATION_ERROR,
        f"{field}: {message}",
        422,
        errors=[FieldError(field=field, message=message, code="missing")],
    )


async def _verify_code(
    session: AsyncSession,
    *,
    body: StepUpRequest,
    user: AuthUser,
    client: ClientInfo,
    keys: KeyRing,
    lookup: AsyncEngine,
    throttle: Throttle,
) -> None:
    if body.code is None:
        raise _wrong_kind("code", "Enter a code from your authenticator app")
    await throttle.check_code(ip=client.ip, user_id=user.id)
    try:
        used = await two_factor.verify_code(
            session, user_id=user.id, code=body.code, secret=keys.secret
        )
    except AppError:
        await throttle.code_failed(ip=client.ip, user_id=user.id)
        await audit.record_standalone(
            lookup,
            EventKind.two_factor_failed,
            user_id=user.id,
            session_id=user.session_id,
            client=client,
            detail={"via": "step_up"},
        )
        raise
    await throttle.code_succeeded(ip=client.ip, user_id=user.id)
    if used is two_factor.SecondFactor.recovery_code:
        await audit.record(
            session,
            EventKind.recovery_code_used,
            user_id=user.id,
            session_id=user.session_id,
            client=client,
        )


async def _verify_password(
    *,
    body: StepUpRequest,
    user: AuthUser,
    client: ClientInfo,
    hasher: HasherDep,
    lookup: AsyncEngine,
    throttle: Throttle,
) -> None:
    if body.password is None:
        raise _wrong_kind("password", "Enter your password")
    # Counted like sign-in attempts on this account: a stolen session must not become
    # an unthrottled way to guess the password.
    await throttle.check_login(ip=client.ip, login=user.username)
    if not await account_service.password_matches(
        lookup, hasher, user_id=user.id, password=body.password
    ):
        await throttle.login_failed(ip=client.ip, login=user.username)
        await audit.record_standalone(
            lookup,
            EventKind.login_failed,
            user_id=user.id,
            session_id=user.session_id,
            client=client,
            detail={"reason": "wrong_password", "via": "step_up"},
        )
        raise AppError(
            ErrorCode.CURRENT_PASSWORD_INCORRECT,
            "That password is not correct.",
            400,
            errors=[FieldError(field="password", message="Not correct", code="incorrect")],
        )

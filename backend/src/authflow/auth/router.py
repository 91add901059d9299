"""Sign-in endpoints: the tutorial's OAuth2 ``/token`` and the browser's ``/api/auth/*``."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Query, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from authflow.account import service as account_service
from authflow.audit import service as audit
from authflow.audit.service import EventKind
from authflow.auth.cookies import (
    ACCESS_COOKIE,
    CSRF_HEADER,
    clear_challenge_cookie,
    clear_session_cookies,
    presented_challenge,
    presented_refresh_token,
    set_challenge_cookie,
    set_session_cookies,
)
from authflow.auth.dependencies import MAX_TOKEN_LENGTH, ClientInfoDep
from authflow.auth.schemas import (
    LoginRequest,
    MfaRequiredResponse,
    OAuthErrorResponse,
    RefreshResponse,
    TokenResponse,
)
from authflow.auth.service import (
    BAD_CREDENTIALS_DETAIL,
    BadCredentials,
    ClientInfo,
    IssuedToken,
    csrf_for,
    csrf_refused,
    invalid_refresh,
)
from authflow.auth.service import auth as auth_service
from authflow.config import Settings
from authflow.db import SessionDep
from authflow.dependencies import (
    AutocommitEngineDep,
    DeferredDep,
    HasherDep,
    KeysDep,
    SessionmakerDep,
    SettingsDep,
    ThrottleDep,
)
from authflow.device.cookies import browser_device_token, set_device_cookie
from authflow.device.service import browser_device_hash, client_device_hash
from authflow.device.service import device as device_service
from authflow.email import service as email_service
from authflow.errors import AppError, ErrorCode, ErrorResponse, FieldError
from authflow.kit.clock import utc_now
from authflow.kit.jwt import InvalidToken, KeyRing
from authflow.kit.passwords import PasswordHasher
from authflow.kit.strings import LineStr, SafeStr
from authflow.kit.tokens import MAX_REFRESH_TOKEN_LENGTH, same_token
from authflow.models import TwoFactorChallenge, User
from authflow.throttle.service import Throttle
from authflow.two_factor import service as two_factor
from authflow.two_factor.schemas import TwoFactorChallengeResponse, TwoFactorCodeRequest
from authflow.two_factor.service import ChallengeVia, SecondFactor
from authflow.user.schemas import SignupRequest, UserRead
from authflow.user.service import user as user_service

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The second step of a password grant for an account with two-factor (after an
# mfa_required answer). An extension grant, so an absolute URI (RFC 6749 section 4.5).
MFA_OTP_GRANT = "urn:authflow:params:oauth:grant-type:mfa-otp"

token_router = APIRouter(tags=["oauth2"])
router = APIRouter(prefix="/api/auth", tags=["auth"])


def _oauth_error(
    error: str, description: str, status_code: int, code: ErrorCode, **headers: str
) -> AppError:
    exc = AppError(code, description, status_code, headers={**NO_STORE, **headers})
    exc.extra = {"error": error, "error_description": description}
    return exc


@token_router.post(
    "/token",
    response_model=TokenResponse,
    responses={
        400: {
            "model": OAuthErrorResponse,
            "description": "Unsupported grant type; wrong or expired second-factor step",
        },
        401: {"model": OAuthErrorResponse, "description": "Bad credentials or refresh token"},
        403: {
            "model": MfaRequiredResponse,
            "description": f"Two-factor account: finish with grant_type={MFA_OTP_GRANT}",
        },
        422: {"model": ErrorResponse},
        429: {"model": ErrorResponse, "description": "Too many attempts; see Retry-After"},
    },
    summary="OAuth2 token endpoint: password and refresh_token grants",
)
@token_router.post("/token/", include_in_schema=False, response_model=TokenResponse)
async def token(
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    keys: KeysDep,
    client: ClientInfoDep,
    lookup: AutocommitEngineDep,
    throttle: ThrottleDep,
    username: Annotated[LineStr | None, Form(min_length=1, max_length=320)] = None,
    password: Annotated[SafeStr | None, Form(min_length=1, max_length=4096)] = None,
    refresh_token: Annotated[
        LineStr | None, Form(min_length=1, max_length=MAX_REFRESH_TOKEN_LENGTH)
    ] = None,
    grant_type: Annotated[str | None, Form(max_length=64)] = None,
    mfa_token: Annotated[
        LineStr | None, Form(min_length=1, max_length=MAX_REFRESH_TOKEN_LENGTH)
    ] = None,
    otp: Annotated[str | None, Form(min_length=1, max_length=32)] = None,
) -> TokenResponse | JSONResponse:
    # RFC 6749 makes grant_type required, the tutorial's form leaves it out: no grant
    # type means the password grant.
    if grant_type == "refresh_token":
        if refresh_token is None:
            raise _missing("refresh_token")
        await throttle.limit("refresh", ip=client.ip)
        issued = await auth_service.refresh(
            session, refresh_token=refresh_token, keys=keys, settings=settings, client=client
        )
        await _record_refresh(session, issued, client)
    elif grant_type in (None, "password"):
        if username is None or password is None:
            raise _missing("username" if username is None else "password")
        try:
            user = await _check_password(
                session,
                lookup=lookup,
                hasher=hasher,
                throttle=throttle,
                client=client,
                login=username,
                password=password,
            )
        except BadCredentials:
            raise _oauth_error(
                "invalid_grant",
                BAD_CREDENTIALS_DETAIL,
                401,
                ErrorCode.LOGIN_BAD_CREDENTIALS,
                **{"WWW-Authenticate": "Bearer"},
            ) from None
        if await two_factor.is_enabled(session, user.id):
            return await _mfa_required(session, user=user, settings=settings)
        issued = await _start_token_session(
            session, user=user, client=client, settings=settings, keys=keys, detail={}
        )
    elif grant_type == MFA_OTP_GRANT:
        if mfa_token is None or otp is None:
            raise _missing("mfa_token" if mfa_token is None else "otp")
        try:
            challenge = await two_factor.open_challenge(
                session, token=mfa_token, via=ChallengeVia.token
            )
            user, used = await _check_second_factor(
                session,
                challenge,
                code=otp,
                client=client,
                keys=keys,
                lookup=lookup,
                throttle=throttle,
            )
        except AppError as exc:
            if exc.code in (
                ErrorCode.TWO_FACTOR_CHALLENGE_INVALID,
                ErrorCode.TWO_FACTOR_CODE_INVALID,
            ):
                raise _oauth_error("invalid_grant", exc.detail, 400, exc.code) from None
            raise
        issued = await _start_token_session(
            session,
            user=user,
            client=client,
            settings=settings,
            keys=keys,
            detail={"second_factor": used.value},
        )
    else:
        raise _oauth_error(
            "unsupported_grant_type",
            f"grant_type must be password, refresh_token or {MFA_OTP_GRANT}",
            400,
            ErrorCode.UNSUPPORTED_GRANT_TYPE,
        )
    response.headers.update(NO_STORE)
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
    )


async def _mfa_required(session: AsyncSession, *, user: User, settings: Settings) -> JSONResponse:
    """A right password from a two-factor account earns no tokens: an ``mfa_token`` that
    only the MFA_OTP_GRANT accepts, with a code, within a few minutes. Returned, not
    raised, so the challenge is committed."""
    challenge = await two_factor.create_challenge(
        session, user_id=user.id, via=ChallengeVia.token, remember_me=False, settings=settings
    )
    description = "This account uses two-factor authentication: send a code with the mfa_token"
    body = MfaRequiredResponse(
        code=ErrorCode.TWO_FACTOR_REQUIRED,
        detail=description,
        error="mfa_required",
        error_description=description,
        mfa_token=challenge.token,
        expires_in=challenge.expires_in,
    )
    return JSONResponse(body.model_dump(), status_code=403, headers=NO_STORE)


async def _start_token_session(
    session: AsyncSession,
    *,
    user: User,
    client: ClientInfo,
    settings: Settings,
    keys: KeyRing,
    detail: dict[str, str],
) -> IssuedToken:
    # OAuth2 clients keep no cookies: their User-Agent stands for the device.
    return await _start_session(
        session,
        user,
        client,
        device_hash=client_device_hash(client.user_agent),
        notify_new_device=True,
        remember_me=False,
        settings=settings,
        keys=keys,
        event=EventKind.login_ok,
        detail={"via": "token", **detail},
    )


async def _start_session(
    session: AsyncSession,
    user: User,
    client: ClientInfo,
    *,
    device_hash: str,
    notify_new_device: bool,
    remember_me: bool,
    settings: Settings,
    keys: KeyRing,
    event: EventKind,
    detail: dict[str, str] | None,
) -> IssuedToken:
    """What every sign-in ends with: the device noted (a notice if it is new to this
    account, see device.service), a session started, the event recorded."""
    await device_service.record_sign_in(
        session,
        user=user,
        device_hash=device_hash,
        client=client,
        settings=settings,
        notify=notify_new_device,
    )
    issued = await auth_service.start_session(
        session,
        user_id=user.id,
        client=client,
        remember_me=remember_me,
        settings=settings,
        keys=keys,
    )
    await audit.record(
        session, event, user_id=user.id, session_id=issued.session_id, client=client, detail=detail
    )
    return issued


async def _check_second_factor(
    session: AsyncSession,
    challenge: TwoFactorChallenge,
    *,
    code: str,
    client: ClientInfo,
    keys: KeyRing,
    lookup: AsyncEngine,
    throttle: Throttle,
) -> tuple[User, SecondFactor]:
    """The code step of both sign-in routes: throttled like passwords, and a wrong code
    counts against the challenge, which dies after a few."""
    user_id = challenge.user_id
    await throttle.check_code(ip=client.ip, user_id=user_id)
    try:
        used = await two_factor.verify_code(session, user_id=user_id, code=code, secret=keys.secret)
    except AppError as exc:
        if exc.code != ErrorCode.TWO_FACTOR_CODE_INVALID:
            raise
        challenge.failed_attempts += 1
        # The count must stand though this request fails.
        await session.commit()
        await throttle.code_failed(ip=client.ip, user_id=user_id)
        await audit.record_standalone(
            lookup,
            EventKind.two_factor_failed,
            user_id=user_id,
            client=client,
            detail={"via": challenge.via},
        )
        raise
    challenge.used_at = utc_now()
    # Locked (shared), so a disable under way is waited for and then seen, and one that
    # starts now waits for this sign-in's session, which it then ends.
    user = await session.get(User, user_id, with_for_update={"read": True})
    # Disabled, or the password changed (a reset), since the password step.
    if user is None or not user.is_active or user.password_changed_at > challenge.created_at:
        raise two_factor.challenge_invalid()
    await throttle.code_succeeded(ip=client.ip, user_id=user_id)
    if used is SecondFactor.recovery_code:
        await audit.record(session, EventKind.recovery_code_used, user_id=user_id, client=client)
    return user, used


async def _check_password(
    session: AsyncSession,
    *,
    lookup: AsyncEngine,
    hasher: PasswordHasher,
    throttle: Throttle,
    client: ClientInfo,
    login: str,
    password: str,
) -> User:
    """The password check of both sign-in routes: throttled first, and its outcome
    counted and recorded. A failure is recorded on its own connection, since the
    request's transaction is rolled back with the refusal."""
    await throttle.check_login(ip=client.ip, login=login)
    try:
        user = await auth_service.authenticate(
            session, lookup=lookup, login=login, password=password, hasher=hasher
        )
    except BadCredentials as exc:
        await throttle.login_failed(ip=client.ip, login=login)
        await audit.record_standalone(
            lookup,
            EventKind.login_failed,
            user_id=exc.user_id,
            client=client,
            detail={"reason": exc.reason},
        )
        raise
    names = [user.username] + ([user.email] if user.email else [])
    await throttle.login_succeeded(ip=client.ip, logins=names)
    return user


async def _record_refresh(session: AsyncSession, issued: IssuedToken, client: ClientInfo) -> None:
    await audit.record(
        session,
        EventKind.refresh,
        user_id=issued.user_id,
        session_id=issued.session_id,
        client=client,
    )


def _missing(field: str) -> AppError:
    exc = AppError(
        ErrorCode.VALIDATION_ERROR,
        f"{field}: Field required",
        422,
        errors=[FieldError(field=field, message="Field required", code="missing")],
        headers=NO_STORE,
    )
    exc.extra = {"error": "invalid_request", "error_description": f"{field} is required"}
    return exc


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses={
        409: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        429: {"model": ErrorResponse},
    },
)
async def signup(
    body: SignupRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    keys: KeysDep,
    client: ClientInfoDep,
    throttle: ThrottleDep,
    sessionmaker: SessionmakerDep,
    deferred: DeferredDep,
) -> UserRead:
    """Create an account and sign it in on this browser."""
    await throttle.limit("signup", ip=client.ip)
    try:
        user = await user_service.create(
            session,
            username=body.username,
            password=body.password,
            email=str(body.email),
            full_name=body.full_name,
            settings=settings,
            hasher=hasher,
        )
    except AppError as exc:
        if exc.code == ErrorCode.EMAIL_TAKEN:
            account_service.tell_owner_of_signup_attempt(
                email=str(body.email),
                sessionmaker=sessionmaker,
                deferred=deferred,
                settings=settings,
            )
        raise
    await email_service.send_verification(session, user=user, settings=settings)
    # This browser is the account's first device: recorded, nothing to report.
    return await _sign_in_browser(
        request,
        response,
        session,
        user,
        client,
        remember_me=False,
        settings=settings,
        keys=keys,
        notify_new_device=False,
        event=EventKind.signup,
    )


@router.post(
    "/login",
    response_model=UserRead,
    responses={
        202: {
            "model": TwoFactorChallengeResponse,
            "description": "Password right, account has two-factor: POST /api/auth/login/2fa",
        },
        401: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        429: {"model": ErrorResponse, "description": "Too many attempts; see Retry-After"},
    },
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    keys: KeysDep,
    client: ClientInfoDep,
    lookup: AutocommitEngineDep,
    throttle: ThrottleDep,
) -> UserRead | JSONResponse:
    """Check the password, start a session, and set the access cookie. For an account
    with two-factor, answer 202 instead: the session starts at POST /api/auth/login/2fa."""
    user = await _check_password(
        session,
        lookup=lookup,
        hasher=hasher,
        throttle=throttle,
        client=client,
        login=body.login,
        password=body.password,
    )
    if await two_factor.is_enabled(session, user.id):
        challenge = await two_factor.create_challenge(
            session,
            user_id=user.id,
            via=ChallengeVia.browser,
            remember_me=body.remember_me,
            settings=settings,
        )
        answer = JSONResponse(
            TwoFactorChallengeResponse(expires_in=challenge.expires_in).model_dump(),
            status_code=status.HTTP_202_ACCEPTED,
            headers=NO_STORE,
        )
        set_challenge_cookie(answer, challenge.token, challenge.expires_in)
        return answer
    return await _sign_in_browser(
        request,
        response,
        session,
        user,
        client,
        remember_me=body.remember_me,
        settings=settings,
        keys=keys,
        notify_new_device=True,
        event=EventKind.login_ok,
    )


@router.post(
    "/login/2fa",
    response_model=UserRead,
    responses={
        400: {"model": ErrorResponse, "description": "TWO_FACTOR_CODE_INVALID"},
        401: {"model": ErrorResponse, "description": "TWO_FACTOR_CHALLENGE_INVALID"},
        422: {"model": ErrorResponse},
        429: {"model": ErrorResponse, "description": "Too many attempts; see Retry-After"},
    },
)
async def login_second_factor(
    body: TwoFactorCodeRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    keys: KeysDep,
    client: ClientInfoDep,
    lookup: AutocommitEngineDep,
    throttle: ThrottleDep,
) -> UserRead:
    """The code step of a two-factor sign-in (after a 202 from /api/auth/login): a code
    from the authenticator app or a recovery code starts the session."""
    challenge = await two_factor.open_challenge(
        session, token=presented_challenge(request), via=ChallengeVia.browser
    )
    user, used = await _check_second_factor(
        session,
        challenge,
        code=body.code,
        client=client,
        keys=keys,
        lookup=lookup,
        throttle=throttle,
    )
    signed_in = await _sign_in_browser(
        request,
        response,
        session,
        user,
        client,
        remember_me=challenge.remember_me,
        settings=settings,
        keys=keys,
        notify_new_device=True,
        event=EventKind.login_ok,
        detail={"second_factor": used.value},
    )
    clear_challenge_cookie(response)
    return signed_in


async def _sign_in_browser(
    request: Request,
    response: Response,
    session: AsyncSession,
    user: User,
    client: ClientInfo,
    *,
    remember_me: bool,
    settings: Settings,
    keys: KeyRing,
    notify_new_device: bool,
    event: EventKind,
    detail: dict[str, str] | None = None,
) -> UserRead:
    """Start a session and hand its access token to the browser as the cookie; note the
    browser's device (a notice if it is new to this account, see device.service)."""
    device_token = browser_device_token(request)
    issued = await _start_session(
        session,
        user,
        client,
        device_hash=browser_device_hash(device_token),
        notify_new_device=notify_new_device,
        remember_me=remember_me,
        settings=settings,
        keys=keys,
        event=event,
        detail=detail,
    )
    set_session_cookies(response, issued, keys)
    set_device_cookie(response, device_token)
    response.headers.update(NO_STORE)
    return UserRead.model_validate(user)


@router.post(
    "/refresh",
    response_model=RefreshResponse,
    responses={
        401: {"model": OAuthErrorResponse},
        403: {"model": ErrorResponse},
        429: {"model": ErrorResponse},
    },
)
async def refresh(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    keys: KeysDep,
    client: ClientInfoDep,
    throttle: ThrottleDep,
) -> RefreshResponse:
    """Rotate the refresh cookie and renew the access cookie."""
    await throttle.limit("refresh", ip=client.ip)
    presented = presented_refresh_token(request)
    if presented is None:
        raise invalid_refresh()
    issued = await auth_service.refresh(
        session, refresh_token=presented, keys=keys, settings=settings, client=client
    )
    await _record_refresh(session, issued, client)
    set_session_cookies(response, issued, keys)
    response.headers.update(NO_STORE)
    return RefreshResponse(expires_in=issued.expires_in)


def safe_next_path(value: str | None) -> str:
    """Same-origin relative paths only; anything else goes to /account."""
    if (
        not value
        or len(value) > 2048
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in value)
    ):
        return "/account"
    path = urlsplit(value)
    dot_segments = {".", ".."} & set(path.path.split("/"))
    if path.scheme or path.netloc or path.path.startswith("//") or dot_segments:
        return "/account"
    return value


@router.get(
    "/resume",
    status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    responses={
        303: {"description": "Back to `next` with fresh cookies, or to /login"},
        422: {"model": ErrorResponse},
    },
)
async def resume(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    keys: KeysDep,
    client: ClientInfoDep,
    next_path: Annotated[str | None, Query(alias="next", max_length=2048)] = None,
) -> RedirectResponse:
    """The web app's page-level refresh: the proxy sends a visitor whose access cookie has
    expired here; the refresh cookie (SameSite=Strict, so only same-site navigations carry
    it) is rotated and the visitor continues to ``next``, or goes to sign in."""
    target = safe_next_path(next_path)
    presented = presented_refresh_token(request)
    if presented is not None:
        try:
            issued = await auth_service.refresh(
                session, refresh_token=presented, keys=keys, settings=settings, client=client
            )
        except AppError:
            pass
        else:
            await _record_refresh(session, issued, client)
            response = RedirectResponse(target, status_code=303, headers=NO_STORE)
            set_session_cookies(response, issued, keys)
            return response
    response = RedirectResponse(
        f"/login?next={quote(target, safe='')}", status_code=303, headers=NO_STORE
    )
    clear_session_cookies(response)
    return response


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    request: Request, session: SessionDep, keys: KeysDep, client: ClientInfoDep
) -> Response:
    """End the current session (Bearer or cookie) and clear the cookie. Always succeeds,
    so a client can log out with an already-expired token."""
    header = request.headers.get("authorization", "")
    token = header[7:] if header[:7].lower() == "bearer " else request.cookies.get(ACCESS_COOKIE)
    ended: list[tuple[uuid.UUID, uuid.UUID] | None] = []
    if token and len(token) <= MAX_TOKEN_LENGTH:
        try:
            # An expired token still names its session; revoking it is what the user asked.
            _, session_id = await keys.verify(token, verify_exp=False)
        except InvalidToken:
            session_id = None
        if session_id is not None:
            if header[:7].lower() != "bearer " and not same_token(
                request.headers.get(CSRF_HEADER), csrf_for(keys, session_id)
            ):
                raise csrf_refused()
            ended.append(
                await auth_service.revoke_session(session, session_id=session_id, reason="logout")
            )
    refresh_token = presented_refresh_token(request)
    if refresh_token is not None:
        # A browser whose access cookie is gone still holds its session's refresh token.
        ended.append(
            await auth_service.revoke_by_refresh_token(
                session, refresh_token=refresh_token, reason="logout"
            )
        )
    for user_id, ended_id in {pair for pair in ended if pair is not None}:
        await audit.record(
            session, EventKind.logout, user_id=user_id, session_id=ended_id, client=client
        )
    response = Response(status_code=status.HTTP_204_NO_CONTENT, headers=NO_STORE)
    clear_session_cookies(response)
    return response

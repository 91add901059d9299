"""Sign-in endpoints: the tutorial's OAuth2 ``/token`` and the browser's ``/api/auth/*``."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from authflow.account import service as account_service
from authflow.audit import service as audit
from authflow.audit.service import EventKind
from authflow.auth.cookies import (
    ACCESS_COOKIE,
    CSRF_HEADER,
    clear_session_cookies,
    presented_refresh_token,
    set_session_cookies,
)
from authflow.auth.dependencies import MAX_TOKEN_LENGTH, ClientInfoDep
from authflow.auth.schemas import (
    LoginRequest,
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
from authflow.kit.jwt import InvalidToken, KeyRing
from authflow.kit.passwords import PasswordHasher
from authflow.kit.strings import LineStr, SafeStr
from authflow.kit.tokens import MAX_REFRESH_TOKEN_LENGTH, same_token
from authflow.models import User
from authflow.throttle.service import Throttle
from authflow.user.schemas import SignupRequest, UserRead
from authflow.user.service import user as user_service

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

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
        400: {"model": OAuthErrorResponse, "description": "Unsupported grant type"},
        401: {"model": OAuthErrorResponse, "description": "Bad credentials or refresh token"},
        422: {"model": ErrorResponse},
        429: {"model": ErrorResponse, "description": "Too many attempts; see Retry-After"},
    },
    summary="OAuth2 token endpoint: password and refresh_token grants",
)
@token_router.post("/token/", include_in_schema=False)
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
) -> TokenResponse:
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
        # OAuth2 clients keep no cookies: their User-Agent stands for the device.
        await device_service.record_sign_in(
            session,
            user=user,
            device_hash=client_device_hash(client.user_agent),
            client=client,
            settings=settings,
        )
        issued = await auth_service.start_session(
            session,
            user_id=user.id,
            client=client,
            remember_me=False,
            settings=settings,
            keys=keys,
        )
        await audit.record(
            session,
            EventKind.login_ok,
            user_id=user.id,
            session_id=issued.session_id,
            client=client,
            detail={"via": "token"},
        )
    else:
        raise _oauth_error(
            "unsupported_grant_type",
            "grant_type must be password or refresh_token",
            400,
            ErrorCode.UNSUPPORTED_GRANT_TYPE,
        )
    response.headers.update(NO_STORE)
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
    )


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
) -> UserRead:
    """Check the password, start a session, and set the access cookie."""
    user = await _check_password(
        session,
        lookup=lookup,
        hasher=hasher,
        throttle=throttle,
        client=client,
        login=body.login,
        password=body.password,
    )
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
) -> UserRead:
    """Start a session and hand its access token to the browser as the cookie; note the
    browser's device (a notice if it is new to this account, see device.service)."""
    device_token = browser_device_token(request)
    await device_service.record_sign_in(
        session,
        user=user,
        device_hash=browser_device_hash(device_token),
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
    await audit.record(session, event, user_id=user.id, session_id=issued.session_id, client=client)
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
    responses={303: {"description": "Back to `next` with fresh cookies, or to /login"}},
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

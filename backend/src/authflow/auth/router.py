"""Sign-in endpoints: the tutorial's OAuth2 ``/token`` and the browser's ``/api/auth/*``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from authflow.auth.cookies import ACCESS_COOKIE, clear_access_cookie, set_access_cookie
from authflow.auth.dependencies import ClientInfoDep
from authflow.auth.schemas import LoginRequest, OAuthErrorResponse, TokenResponse
from authflow.auth.service import BAD_CREDENTIALS_DETAIL, ClientInfo
from authflow.auth.service import auth as auth_service
from authflow.config import Settings
from authflow.db import SessionDep
from authflow.dependencies import AutocommitEngineDep, HasherDep, KeysDep, SettingsDep
from authflow.errors import AppError, ErrorCode, ErrorResponse
from authflow.kit.jwt import InvalidToken, KeyRing
from authflow.kit.strings import LineStr, SafeStr
from authflow.models import User
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
        401: {"model": OAuthErrorResponse, "description": "Bad credentials"},
        422: {"model": ErrorResponse},
    },
    summary="OAuth2 password grant (the tutorial's login)",
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
    username: Annotated[LineStr, Form(min_length=1, max_length=320)],
    password: Annotated[SafeStr, Form(min_length=1, max_length=4096)],
    grant_type: Annotated[str | None, Form(max_length=64)] = None,
) -> TokenResponse:
    # RFC 6749 makes grant_type required, the tutorial's form leaves it out; accept both.
    if grant_type not in (None, "password"):
        raise _oauth_error(
            "unsupported_grant_type",
            "Only grant_type=password is supported",
            400,
            ErrorCode.UNSUPPORTED_GRANT_TYPE,
        )
    try:
        user = await auth_service.authenticate(
            session, lookup=lookup, login=username, password=password, hasher=hasher
        )
    except AppError:
        raise _oauth_error(
            "invalid_grant",
            BAD_CREDENTIALS_DETAIL,
            401,
            ErrorCode.LOGIN_BAD_CREDENTIALS,
            **{"WWW-Authenticate": "Bearer"},
        ) from None
    issued = await auth_service.start_session(
        session, user_id=user.id, client=client, remember_me=False, settings=settings, keys=keys
    )
    response.headers.update(NO_STORE)
    return TokenResponse(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses={409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
async def signup(
    body: SignupRequest,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    keys: KeysDep,
    client: ClientInfoDep,
) -> UserRead:
    """Create an account and sign it in on this browser."""
    user = await user_service.create(
        session,
        username=body.username,
        password=body.password,
        email=str(body.email),
        full_name=body.full_name,
        settings=settings,
        hasher=hasher,
    )
    return await _sign_in_browser(
        response, session, user, client, remember_me=False, settings=settings, keys=keys
    )


@router.post(
    "/login",
    response_model=UserRead,
    responses={401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
async def login(
    body: LoginRequest,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    keys: KeysDep,
    client: ClientInfoDep,
    lookup: AutocommitEngineDep,
) -> UserRead:
    """Check the password, start a session, and set the access cookie."""
    user = await auth_service.authenticate(
        session, lookup=lookup, login=body.login, password=body.password, hasher=hasher
    )
    return await _sign_in_browser(
        response, session, user, client, remember_me=body.remember_me, settings=settings, keys=keys
    )


async def _sign_in_browser(
    response: Response,
    session: AsyncSession,
    user: User,
    client: ClientInfo,
    *,
    remember_me: bool,
    settings: Settings,
    keys: KeyRing,
) -> UserRead:
    """Start a session and hand its access token to the browser as the cookie."""
    issued = await auth_service.start_session(
        session,
        user_id=user.id,
        client=client,
        remember_me=remember_me,
        settings=settings,
        keys=keys,
    )
    set_access_cookie(response, issued.access_token, issued.expires_in)
    response.headers.update(NO_STORE)
    return UserRead.model_validate(user)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, session: SessionDep, keys: KeysDep) -> Response:
    """End the current session (Bearer or cookie) and clear the cookie. Always succeeds,
    so a client can log out with an already-expired token."""
    header = request.headers.get("authorization", "")
    token = header[7:] if header[:7].lower() == "bearer " else request.cookies.get(ACCESS_COOKIE)
    if token and len(token) <= 4096:
        try:
            # An expired token still names its session; revoking it is what the user asked.
            _, session_id = keys.verify_access_token(token, verify_exp=False)
        except InvalidToken:
            session_id = None
        if session_id is not None:
            await auth_service.revoke_session(session, session_id=session_id, reason="logout")
    response = Response(status_code=status.HTTP_204_NO_CONTENT, headers=NO_STORE)
    clear_access_cookie(response)
    return response

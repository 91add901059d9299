"""Who is calling: a Bearer token or the access cookie, checked against a live session."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from authflow.auth.cookies import ACCESS_COOKIE
from authflow.auth.service import AuthUser, ClientInfo
from authflow.auth.service import auth as auth_service
from authflow.dependencies import KeysDep
from authflow.errors import not_authenticated

# Declared for the OpenAPI docs' "Authorize" button; the token is read below so the
# cookie works too.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)

MAX_TOKEN_LENGTH = 4096


async def get_current_user(
    request: Request,
    keys: KeysDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
) -> AuthUser:
    if request.headers.get("authorization") is not None and bearer is None:
        # An Authorization header that is not "Bearer <token>" is a client bug; say so
        # rather than silently falling back to the cookie.
        raise not_authenticated("Authorization header must be 'Bearer <token>'")
    token = bearer or request.cookies.get(ACCESS_COOKIE)
    if not token:
        raise not_authenticated()
    if len(token) > MAX_TOKEN_LENGTH:
        raise not_authenticated("Invalid or expired token")
    # Its own autocommit connection, not the request's transaction: the lookup is one
    # round trip, and routes that need nothing else from the database open no transaction.
    async with request.app.state.autocommit_engine.connect() as conn:
        return await auth_service.resolve_access_token(conn, token=token, keys=keys)


async def client_info(request: Request) -> ClientInfo:
    user_agent = request.headers.get("user-agent")
    return ClientInfo(
        user_agent=user_agent[:512] if user_agent else None,
        ip=request.client.host if request.client else None,
    )


CurrentUser = Annotated[AuthUser, Depends(get_current_user)]
ClientInfoDep = Annotated[ClientInfo, Depends(client_info)]

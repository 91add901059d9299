"""Who is calling: a Bearer token or the access cookie, checked against a live session."""

from __future__ import annotations

import functools
import ipaddress
from ipaddress import IPv4Network, IPv6Network
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from authflow.auth.cookies import ACCESS_COOKIE, CSRF_HEADER
from authflow.auth.service import AuthUser, ClientInfo, csrf_for, csrf_refused
from authflow.auth.service import auth as auth_service
from authflow.config import Settings
from authflow.dependencies import KeysDep
from authflow.errors import AppError, ErrorCode, not_authenticated
from authflow.kit.tokens import same_token
from authflow.two_factor import service as two_factor

# Declared for the OpenAPI docs' "Authorize" button; the token is read below so the
# cookie works too.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)

MAX_TOKEN_LENGTH = 4096
IPNetwork = IPv4Network | IPv6Network
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    # The signature is checked before any connection is taken, so garbage tokens cost
    # no database work.
    user_id, session_id = await auth_service.verify_access_token(token, keys=keys)
    if bearer is None and request.method not in SAFE_METHODS:
        # A cookie acts on the user's behalf whoever made the browser send it: unsafe
        # requests must also prove they come from our pages (double submit).
        expected = csrf_for(keys, session_id)
        if not same_token(request.headers.get(CSRF_HEADER), expected):
            raise csrf_refused()
    # Its own autocommit connection, not the request's transaction: the lookup is one
    # round trip, and routes that need nothing else from the database open no transaction.
    async with request.app.state.autocommit_engine.connect() as conn:
        return await auth_service.load_live_session(conn, user_id=user_id, session_id=session_id)


def _ip_or_none(value: str | None) -> str | None:
    # Whatever the server was told (a proxy header may be client-controlled) is stored
    # only if it is an IP address.
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def client_ip(peer: str | None, forwarded_for: list[str], trusted: tuple[str, ...]) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the
    right-most X-Forwarded-For entry that is not itself a trusted proxy. Each proxy
    appends what it saw, so entries left of the first untrusted one are whatever the
    client chose to send and are never believed."""
    address = _ip_or_none(peer)
    networks = _networks(trusted)

    def is_trusted(value: str) -> bool:
        ip = ipaddress.ip_address(value)
        return any(ip in network for network in networks)

    if address is None or not networks or not is_trusted(address):
        return address
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        candidate = _ip_or_none(hop)
        if candidate is None:
            # Garbage where an address should be: stop at the last hop we can vouch for.
            break
        address = candidate
        if not is_trusted(candidate):
            break
    return address


async def client_info(request: Request) -> ClientInfo:
    user_agent = request.headers.get("user-agent")
    settings: Settings = request.app.state.settings
    return ClientInfo(
        user_agent=user_agent[:512] if user_agent else None,
        ip=client_ip(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
            tuple(settings.trusted_proxies),
        ),
    )


CurrentUser = Annotated[AuthUser, Depends(get_current_user)]


async def get_recently_authenticated_user(request: Request, user: CurrentUser) -> AuthUser:
    """The caller, if their session proved who they are within the step-up window
    (a sign-in, or POST /api/auth/step-up); else 403 STEP_UP_REQUIRED, which the web
    app answers by asking for the password (or a code) and trying again."""
    settings: Settings = request.app.state.settings
    if not two_factor.is_recent(user, settings):
        raise two_factor.step_up_required(settings)
    return user


RecentUser = Annotated[AuthUser, Depends(get_recently_authenticated_user)]


async def get_admin_user(request: Request, user: CurrentUser) -> AuthUser:
    """An administrator fit to act now: others get a 404, as if admin routes did not
    exist; an admin without two-factor (when the deployment requires it) or without a
    recent authentication gets a 403 saying what to do."""
    if not user.is_superuser:
        raise AppError(ErrorCode.NOT_FOUND, "Not Found", 404)
    settings: Settings = request.app.state.settings
    if settings.require_2fa_for_admins:
        async with request.app.state.autocommit_engine.connect() as conn:
            enabled = await two_factor.is_enabled(conn, user.id)
        if not enabled:
            raise AppError(
                ErrorCode.TWO_FACTOR_ENROLMENT_REQUIRED,
                "Administrators must turn on two-factor authentication first.",
                403,
            )
    if not two_factor.is_recent(user, settings):
        raise two_factor.step_up_required(settings)
    return user


AdminUser = Annotated[AuthUser, Depends(get_admin_user)]
ClientInfoDep = Annotated[ClientInfo, Depends(client_info)]

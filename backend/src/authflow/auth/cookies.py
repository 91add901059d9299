"""How the access token travels to and from the browser."""

from __future__ import annotations

from fastapi import Request, Response

from authflow.auth.service import IssuedToken, csrf_for
from authflow.kit.jwt import KeyRing
from authflow.kit.tokens import MAX_REFRESH_TOKEN_LENGTH

# __Host- makes the browser refuse the cookie unless it is Secure, host-only and Path=/,
# so a sibling subdomain can never plant or overwrite it. Browsers treat
# http://localhost as secure, so this works in development too.
ACCESS_COOKIE = "__Host-authflow_access"
# The refresh token goes only where it is used: SameSite=Strict and a path under
# /api/auth, so no page request and no other API call ever carries it. (__Secure-, not
# __Host-, because __Host- demands Path=/.)
REFRESH_COOKIE = "__Secure-authflow_refresh"
REFRESH_COOKIE_PATH = "/api/auth"
# Holds no secret: it only tells the web app's proxy, which never sees the path-scoped
# refresh cookie, that a refresh is worth trying before sending the visitor to /login.
SIGNED_IN_COOKIE = "__Host-authflow_signed_in"
# Double-submit CSRF token: readable by the page on purpose (it is echoed in the
# X-CSRF-Token header), useless without the HttpOnly cookies it accompanies.
CSRF_COOKIE = "__Host-authflow_csrf"
CSRF_HEADER = "x-csrf-token"


def presented_refresh_token(request: Request) -> str | None:
    """The refresh cookie, if it is there and could be one of ours."""
    token = request.cookies.get(REFRESH_COOKIE)
    return token if token and len(token) <= MAX_REFRESH_TOKEN_LENGTH else None


def set_session_cookies(response: Response, issued: IssuedToken, keys: KeyRing) -> None:
    """The cookies of a signed-in browser. Without remember-me they are browser-session
    cookies (no Max-Age); with it they last as long as the session can."""
    remember = issued.refresh_max_age is not None
    csrf = csrf_for(keys, issued.session_id)
    response.set_cookie(
        ACCESS_COOKIE,
        issued.access_token,
        max_age=issued.expires_in if remember else None,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        issued.refresh_token,
        max_age=issued.refresh_max_age,
        path=REFRESH_COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=issued.refresh_max_age,
        path="/",
        secure=True,
        httponly=False,
        samesite="lax",
    )
    response.set_cookie(
        SIGNED_IN_COOKIE,
        "1",
        max_age=issued.refresh_max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, secure=True, httponly=True, samesite="strict"
    )
    response.delete_cookie(SIGNED_IN_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=True, httponly=False, samesite="lax")


# Between a correct password and the code step of an account with two-factor: the
# challenge token, sent only to the sign-in routes.
CHALLENGE_COOKIE = "__Secure-authflow_2fa"
CHALLENGE_COOKIE_PATH = "/api/auth/login"


def presented_challenge(request: Request) -> str | None:
    return request.cookies.get(CHALLENGE_COOKIE)


def set_challenge_cookie(response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        CHALLENGE_COOKIE,
        token,
        max_age=max_age,
        path=CHALLENGE_COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_challenge_cookie(response: Response) -> None:
    response.delete_cookie(
        CHALLENGE_COOKIE, path=CHALLENGE_COOKIE_PATH, secure=True, httponly=True, samesite="strict"
    )

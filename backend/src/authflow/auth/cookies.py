"""How the access token travels to and from the browser."""

from __future__ import annotations

from fastapi import Response

# __Host- makes the browser refuse the cookie unless it is Secure, host-only and Path=/,
# so a sibling subdomain can never plant or overwrite it. Browsers treat
# http://localhost as secure, so this works in development too.
ACCESS_COOKIE = "__Host-authflow_access"


def set_access_cookie(response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        ACCESS_COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def clear_access_cookie(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/", secure=True, httponly=True, samesite="lax")

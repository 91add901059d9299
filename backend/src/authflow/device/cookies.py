"""The device cookie: a long-lived random value that lets the API recognise a browser it
has seen sign in before. It names the browser, not a session, so logout leaves it."""

from __future__ import annotations

import re

from fastapi import Request, Response

from authflow.kit.tokens import new_token

DEVICE_COOKIE = "__Host-authflow_device"
# 400 days: the longest lifetime browsers accept (RFC 6265bis caps Max-Age there). Set on
# every sign-in, so a browser in use never forgets it.
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 60 * 60
# Exactly what new_token() makes: 43 characters of URL-safe base64.
_DEVICE_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def browser_device_token(request: Request) -> str:
    """The browser's device token, or a fresh one if it has none or sent something that
    is not one of ours (never an error: sign-in must not depend on this cookie)."""
    value = request.cookies.get(DEVICE_COOKIE)
    if value is not None and _DEVICE_TOKEN.fullmatch(value):
        return value
    return new_token()


def set_device_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        token,
        max_age=DEVICE_COOKIE_MAX_AGE,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )

"""The route guard (frontend/src/proxy.ts): access cookies are checked against the API's
JWKS, and a signing-key rotation signs nobody out."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Browser, BrowserContext, Page, expect

from e2e.conftest import Stack
from e2e.test_login_journey import PASSWORD, sign_up, unique_username
from e2e.test_refresh import ACCESS, expire_access_token, spent_refresh_tokens

AUTHFLOW = Path(sys.executable).parent / "authflow"


def _segment(part: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def access_cookie(context: BrowserContext) -> dict[str, Any]:
    return dict(next(c for c in context.cookies() if c["name"] == ACCESS))


def kid_of(context: BrowserContext) -> str:
    return str(_segment(access_cookie(context)["value"].split(".")[0])["kid"])


def watch(context: BrowserContext, suffix: str) -> list[str]:
    seen: list[str] = []
    context.on("request", lambda r: seen.append(r.url) if suffix in r.url else None)
    return seen


def test_a_forged_access_cookie_never_reaches_a_page(
    page: Page, context: BrowserContext, stack: Stack
) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    # Same header (the API's kid), same claims, still unexpired: signed with another key.
    cookie = access_cookie(context)
    header, payload, _ = cookie["value"].split(".")
    forged = jwt.encode(
        _segment(payload), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers=_segment(header)
    )
    context.add_cookies([{**cookie, "value": forged}])
    resumes = watch(context, "/api/auth/resume")

    # The proxy refuses it and, since this browser has a session, renews it through
    # /api/auth/resume; the real session continues.
    page.goto("/notes")
    expect(page).to_have_url(re.compile(r"/notes$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Notes")
    assert len(resumes) == 1, resumes
    assert access_cookie(context)["value"] != forged
    assert spent_refresh_tokens(stack, username) == 1


def api_kids(stack: Stack) -> list[list[str]]:
    """The published key ids of each instance: asked directly, since through the balancer
    one instance that has reloaded would hide another that has not."""
    keys = [
        httpx.get(f"{url}/.well-known/jwks.json", timeout=5).json()["keys"]
        for url in stack.backend_urls
    ]
    return [[k["kid"] for k in instance] for instance in keys]


def test_key_rotation_signs_nobody_out(
    page: Page, context: BrowserContext, browser: Browser, stack: Stack
) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    old_kid = kid_of(context)
    page.goto("/notes")  # the proxy has fetched and cached the JWKS by now
    expect(page.get_by_role("heading", level=1)).to_have_text("Notes")

    rotated = subprocess.run(
        [AUTHFLOW, "rotate-keys"], env=stack.env, capture_output=True, text=True, check=False
    )
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.split("new signing key: ")[1].split()[0]
    deadline = time.monotonic() + 15
    while any(kids != [new_kid, old_kid] for kids in api_kids(stack)):
        assert time.monotonic() < deadline, api_kids(stack)
        time.sleep(0.2)

    renewals = watch(context, "/api/auth/re")
    # Signed in before the rotation: the old key's token still opens pages.
    page.goto("/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    assert kid_of(context) == old_kid
    assert renewals == []

    # Signed in after it: a token with a key the proxy has not cached yet.
    other = browser.new_context(base_url=stack.web_url)
    try:
        other_renewals = watch(other, "/api/auth/re")
        laptop = other.new_page()
        laptop.goto("/login")
        laptop.get_by_label("Username or email").fill(username)
        laptop.get_by_label("Password").fill(PASSWORD)
        laptop.get_by_role("button", name="Sign in").click()
        expect(laptop).to_have_url(re.compile(r"/account$"))
        assert kid_of(other) == new_kid
        laptop.goto("/notes")
        expect(laptop.get_by_role("heading", level=1)).to_have_text("Notes")
        assert other_renewals == []
    finally:
        other.close()

    page.reload()
    expect(page.get_by_role("list", name="Your sessions").get_by_role("listitem")).to_have_count(2)


def test_a_prefetch_never_renews_the_session(
    page: Page, context: BrowserContext, stack: Stack
) -> None:
    """Links to protected pages are prefetched in the background; with an expired access
    cookie that must not rotate the refresh token behind the tabs' single-flight refresh."""
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    expire_access_token(context)
    renewals = watch(context, "/api/auth/re")
    # Redirects followed, as a prefetch's fetch would: had the proxy sent it to
    # /api/auth/resume, that request would show below.
    page.evaluate(
        """async () => { await fetch("/notes?_rsc=prefetch", {
            headers: { RSC: "1", "Next-Router-Prefetch": "1" } }); }"""
    )
    assert renewals == []
    assert spent_refresh_tokens(stack, username) == 0
    # A real navigation renews it.
    page.goto("/notes")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notes")
    assert len(renewals) == 1, renewals
    assert spent_refresh_tokens(stack, username) == 1

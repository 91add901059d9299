"""The web app's pages carry a strict Content-Security-Policy with a fresh nonce, and
they still work under it: no violation while signing up, signing in and using the app."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import ConsoleMessage, Page, expect

from e2e.conftest import Stack
from e2e.test_login_journey import sign_up, unique_username


def test_every_page_has_a_policy_with_its_own_nonce(stack: Stack) -> None:
    nonces = set()
    for path in ("/login", "/login", "/signup", "/forgot-password", "/nowhere"):
        r = httpx.get(f"{stack.web_url}{path}", follow_redirects=False)
        policy = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        nonce = re.search(r"'nonce-([^']+)'", policy)
        assert nonce, policy
        nonces.add(nonce.group(1))
        # Next put the same nonce on the scripts it rendered.
        if r.status_code == 200:
            assert f'nonce="{nonce.group(1)}"' in r.text
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in r.headers  # not a production build
    assert len(nonces) == 5


def test_the_app_works_without_a_single_policy_violation(page: Page) -> None:
    violations: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            violations.append(message.text)

    page.on("console", watch)
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    page.get_by_role("link", name="Notes").click()
    page.get_by_label("New note").fill("Under a strict policy")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("main")).to_contain_text("Under a strict policy")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    assert violations == []

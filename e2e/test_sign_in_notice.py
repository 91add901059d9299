"""The "new sign-in" notice in real browsers: the browser that signed up is known, a
second one gets its owner an email naming it, with a link to the sessions list."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from e2e.conftest import Stack, check_accessibility
from e2e.test_login_journey import PASSWORD, sign_up, unique_username

DEVICE = "__Host-authflow_device"
NOTICE = "New sign-in to your"


def queued_notices(stack: Stack, address: str) -> int:
    """Notices in the outbox (sent or not): written in the sign-in's transaction, so the
    count is final once the sign-in has answered."""

    async def count() -> int:
        conn = await asyncpg.connect(stack.database_url)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM email_outbox"
                    " WHERE kind = 'new_sign_in' AND to_address = $1",
                    address,
                )
            )
        finally:
            await conn.close()

    # Playwright's sync API owns this thread's event loop; query from another thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, count()).result()


def sign_in(page: Page, login: str) -> None:
    page.goto("/login")
    page.get_by_label("Username or email").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account$"))


@pytest.fixture
def second_browser(browser: Browser, stack: Stack) -> Iterator[BrowserContext]:
    """Another browser profile: no cookies from the first."""
    ctx = browser.new_context(base_url=stack.web_url, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def test_a_second_browser_gets_one_notice_linking_to_the_sessions(
    page: Page, context: BrowserContext, second_browser: BrowserContext, stack: Stack
) -> None:
    username = unique_username()
    address = f"{username}@example.com"
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    [device] = [c for c in context.cookies() if c["name"] == DEVICE]
    assert device["httpOnly"]
    assert device["secure"]
    assert device["sameSite"] == "Lax"
    # 400 days, while the session cookies of a sign-in without remember-me have none.
    assert device["expires"] > time.time() + 399 * 24 * 3600

    # The browser that signed up is known, and logging out does not forget it.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert [c["value"] for c in context.cookies() if c["name"] == DEVICE] == [device["value"]]
    sign_in(page, username)
    assert queued_notices(stack, address) == 0

    other = second_browser.new_page()
    sign_in(other, username)
    notice = stack.mailbox.wait_for(address, subject=NOTICE)
    part = notice.get_body(preferencelist=("plain",))
    assert part is not None
    body = str(part.get_content())
    # Headless Chromium calls itself HeadlessChrome.
    assert re.search(r"Browser:\s+\S*Chrom", body), body
    assert re.search(r"Device:\s+.*Linux", body), body
    assert re.search(r"IP address:\s+\S+", body), body
    assert re.search(r"Time:\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC", body), body
    match = re.search(r"https?://[^/\s]+(/\S*)", body)
    assert match, body
    assert match.group(1) == "/account#sessions"

    # The same second browser again: known now.
    other.get_by_role("button", name="Log out").click()
    expect(other).to_have_url(re.compile(r"/login$"))
    sign_in(other, username)
    assert queued_notices(stack, address) == 1

    # The link lands on the sessions list.
    page.goto(match.group(1))
    sessions = page.get_by_role("region", name="Where you're signed in")
    expect(sessions).to_be_visible()
    expect(page.locator("#sessions")).to_have_attribute("aria-labelledby", "sessions-heading")
    assert page.evaluate("document.querySelector(':target')?.id") == "sessions"
    check_accessibility(page, "account-sessions-anchor")

"""Where you're signed in: a second browser appears on /account and can be signed out."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from e2e.conftest import Stack, check_accessibility
from e2e.test_login_journey import PASSWORD, sign_up, unique_username

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def test_sign_out_another_browser(page: Page, browser: Browser, stack: Stack) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))

    other = browser.new_context(
        base_url=stack.web_url,
        user_agent=IPHONE,
    )
    try:
        phone = other.new_page()
        phone.goto("/login")
        phone.get_by_label("Username or email").fill(username)
        phone.get_by_label("Password").fill(PASSWORD)
        phone.get_by_role("button", name="Sign in").click()
        expect(phone).to_have_url(re.compile(r"/account$"))

        page.reload()
        sessions = page.get_by_role("list", name="Your sessions").get_by_role("listitem")
        expect(sessions).to_have_count(2)
        expect(sessions.first).to_contain_text("This device")
        expect(page.get_by_role("main")).to_contain_text("Mobile Safari 17 on iPhone")
        check_accessibility(page, "account-sessions")

        page.get_by_role("button", name=re.compile(r"^Sign out Mobile Safari 17 on iPhone")).click()
        expect(sessions).to_have_count(1)
        expect(page.get_by_role("button", name="Sign out all other sessions")).to_have_count(0)

        # The other browser is sent to sign in on its next navigation.
        phone.goto("/notes")
        expect(phone).to_have_url(re.compile(r"/login\?next=%2Fnotes$"))

        # This one is still signed in.
        page.goto("/notes")
        expect(page).to_have_url(re.compile(r"/notes$"))
    finally:
        other.close()

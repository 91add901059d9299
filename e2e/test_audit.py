"""The account's recent activity, as the user sees it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.conftest import check_accessibility
from e2e.test_login_journey import PASSWORD, sign_up, unique_username


def test_recent_activity_lists_sign_ins_and_failed_attempts(page: Page) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    page.get_by_role("button", name="Log out").click()

    page.goto("/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("main").get_by_role("alert")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account$"))

    events = page.get_by_role("list", name="Recent activity").get_by_role("listitem")
    expect(events.nth(0)).to_contain_text("Signed in")
    expect(events.nth(0)).to_contain_text("(this session)")
    expect(events.nth(1)).to_contain_text("Failed sign-in attempt")
    expect(events.nth(2)).to_contain_text("Signed out")
    expect(events.nth(3)).to_contain_text("Account created")
    check_accessibility(page, "account-activity")

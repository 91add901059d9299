"""Email flows in the browser, with the links read out of the delivered messages."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.conftest import Stack, check_accessibility
from e2e.test_login_journey import sign_up, unique_username


def test_sign_up_then_confirm_the_address_from_the_email(page: Page, stack: Stack) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    banner = page.get_by_role("region", name="Email not confirmed")
    expect(banner).to_be_visible()
    check_accessibility(page, "account-unconfirmed")

    message = stack.mailbox.wait_for(
        f"{username}@example.com", subject="Confirm your email address"
    )
    link = stack.mailbox.link(message, "/verify-email")
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your email address")
    check_accessibility(page, "verify-email")
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("status")).to_contain_text(f"{username}@example.com is confirmed")

    page.goto("/account")
    expect(page.get_by_role("main")).to_contain_text("(confirmed)")
    expect(banner).to_have_count(0)

    # The same link again: used, with a way forward.
    page.goto(link)
    page.get_by_role("button", name="Confirm my email address").click()
    alert = page.get_by_role("main").get_by_role("alert")
    expect(alert).to_contain_text("This link has already been used.")
    expect(alert).to_contain_text("already confirmed")


def test_broken_links_explain_what_to_do(page: Page) -> None:
    page.goto("/verify-email")
    expect(page.get_by_role("main").get_by_role("alert")).to_contain_text(
        "This link is incomplete."
    )
    page.goto("/verify-email?token=not-a-real-token")
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("main").get_by_role("alert")).to_contain_text("This link is not valid.")
    check_accessibility(page, "verify-email-invalid")


def test_resending_right_after_sign_up_is_throttled(page: Page, stack: Stack) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    page.get_by_role("button", name="Send a new link").click()
    expect(page.get_by_role("region", name="Email not confirmed")).to_contain_text("try again in")

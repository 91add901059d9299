"""Forgot and reset password, change password, change email: in the browser, with the
links read out of the messages the SMTP server received."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from e2e.conftest import Stack, check_accessibility
from e2e.test_login_journey import PASSWORD, sign_up, unique_username

NEW_PASSWORD = "purple elephant skates daily"


def wait_for_subject(stack: Stack, address: str, subject: str, timeout: float = 15) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in stack.mailbox.messages:
            if message["To"] == address and subject in message["Subject"]:
                return message
        time.sleep(0.1)
    raise AssertionError(f"no '{subject}' email to {address} within {timeout}s")


def sign_in(page: Page, login: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username or email").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def elsewhere(browser: Browser, stack: Stack) -> Iterator[BrowserContext]:
    """A second browser: the same user signed in on another device."""
    ctx = browser.new_context(base_url=stack.web_url)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def main_alert(page: Page) -> Locator:
    # Next's route announcer is role=alert too; ours live in <main>.
    return page.get_by_role("main").get_by_role("alert")


def test_forgot_password_then_reset_signs_out_everywhere(
    page: Page, elsewhere: BrowserContext, stack: Stack
) -> None:
    username = unique_username()
    address = f"{username}@example.com"
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    other = elsewhere.new_page()
    sign_in(other, username)
    expect(other).to_have_url(re.compile(r"/account$"))
    page.get_by_role("button", name="Log out").click()

    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    check_accessibility(page, "forgot-password")
    page.get_by_label("Email").fill(address)
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("status")).to_contain_text("a link to reset its password is on its way")

    link = stack.mailbox.link(wait_for_subject(stack, address, "Reset your"), "/reset-password")
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    check_accessibility(page, "reset-password")
    page.get_by_label("New password").fill("password")
    page.get_by_role("button", name="Set new password").click()
    expect(main_alert(page)).to_contain_text("too common")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password has been changed")
    wait_for_subject(stack, address, "password was changed")

    # The other browser's session ended with the reset.
    other.goto("/account")
    expect(other).to_have_url(re.compile(r"/login"))

    page.get_by_role("link", name="Sign in with your new password").click()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account$"))

    # The link again: used, with a way forward.
    page.goto(link)
    page.get_by_label("New password").fill("another fine passphrase")
    page.get_by_role("button", name="Set new password").click()
    expect(main_alert(page)).to_contain_text("already been used")
    expect(main_alert(page).get_by_role("link", name="Get a new link")).to_be_visible()


def test_broken_reset_links_explain_what_to_do(page: Page) -> None:
    page.goto("/reset-password")
    expect(main_alert(page)).to_contain_text("This link is incomplete.")
    page.goto("/reset-password?token=not-a-real-token")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    expect(main_alert(page)).to_contain_text("This link is not valid.")
    check_accessibility(page, "reset-password-invalid")


def test_change_password_signs_out_the_other_browser(
    page: Page, elsewhere: BrowserContext, stack: Stack
) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    other = elsewhere.new_page()
    sign_in(other, username)
    expect(other).to_have_url(re.compile(r"/account$"))

    page.reload()
    sessions = page.get_by_role("region", name="Where you're signed in")
    expect(sessions.get_by_role("listitem")).to_have_count(2)
    form = page.get_by_role("region", name="Password")
    form.get_by_label("Current password").fill("not my password")
    form.get_by_label("New password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(form.get_by_role("alert")).to_contain_text("current password is not correct")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(form.get_by_role("status")).to_contain_text("Password changed")
    # The list shows only this browser now.
    expect(sessions.get_by_role("listitem")).to_have_count(1)
    check_accessibility(page, "account-password-changed")
    wait_for_subject(stack, f"{username}@example.com", "password was changed")

    other.goto("/account")
    expect(other).to_have_url(re.compile(r"/login"))
    # This browser stays signed in.
    page.goto("/notes")
    expect(page).to_have_url(re.compile(r"/notes$"))


def test_change_email_confirmed_from_the_new_address(page: Page, stack: Stack) -> None:
    username = unique_username()
    new_address = f"{username}.new@example.com"
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))

    form = page.get_by_role("region", name="Email address")
    form.get_by_label("New email address").fill(new_address)
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Change email address").click()
    expect(form.get_by_role("status")).to_contain_text(f"We sent a link to {new_address}")
    notice = wait_for_subject(stack, f"{username}@example.com", "change of email address")
    assert new_address in str(notice.get_body(preferencelist=("plain",)))

    link = stack.mailbox.link(
        wait_for_subject(stack, new_address, "Confirm your new email"), "/confirm-email-change"
    )
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your new email address")
    check_accessibility(page, "confirm-email-change")
    page.get_by_role("button", name="Use this email address").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"{new_address} is now the email address of your account"
    )
    page.goto("/account")
    expect(page.get_by_role("region", name="Profile")).to_contain_text(f"{new_address} (confirmed)")

    page.goto(link)
    page.get_by_role("button", name="Use this email address").click()
    expect(main_alert(page)).to_contain_text("already been used")

"""Repeated wrong passwords are slowed down, and the page says for how long."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from e2e.test_login_journey import unique_username


def test_the_sign_in_page_explains_a_throttled_attempt(page: Page) -> None:
    # Failures count for any name, account or not: this one has none.
    name = unique_username()
    page.goto("/login")
    page.get_by_label("Username or email").fill(name)
    alert = page.get_by_role("main").get_by_role("alert")
    button = page.get_by_role("button", name="Sign in")
    # Five are free; after that each waits 1, 2, 4... seconds, so one of the next
    # attempts lands inside a wait however slow this browser is.
    for attempt in range(12):
        page.get_by_label("Password").fill("wrong password")
        button.click()
        expect(button).to_be_enabled()
        expect(alert).to_be_visible()
        if "Too many attempts. Try again in" in alert.inner_text():
            assert attempt >= 5, "throttled before the free attempts were used"
            return
    raise AssertionError("never throttled")

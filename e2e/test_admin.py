"""The admin console: an administrator (with two-factor, as admins must have) finds an
account, disables it, which signs its open browser out, enables it again and reads both
actions in the audit trail. Anyone else gets the 404 page at every admin address, and an
administrator whose sign-in is older than ten minutes confirms it's them with a code
before any admin page shows its data.

Admins are made the way an operator would: sign up, then ``is_superuser`` set in the
database. Two-factor is turned on through the API from the admin's own browser."""

from __future__ import annotations

import re
from typing import Any

import pyotp
from playwright.sync_api import Browser, Page, expect

from e2e.conftest import Stack, check_accessibility
from e2e.test_login_journey import PASSWORD, sign_up, unique_username
from e2e.test_two_factor import age_sessions, code_after, main_alert, run_sql, step_up_form

NO_SUCH_USER = "00000000-0000-4000-8000-000000000000"

# Calls the API from the page, as the web app does: same origin, the session's
# cookies, the double-submit CSRF token echoed in its header.
API_FETCH = """async ([method, path, body]) => {
  const csrf = document.cookie.split("; ").find((c) => c.startsWith("__Host-authflow_csrf="));
  const headers = { Accept: "application/json", "X-CSRF-Token": csrf ? csrf.split("=")[1] : "" };
  if (body !== null) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === null ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return [response.status, text ? JSON.parse(text) : null];
}"""


def api(page: Page, method: str, path: str, body: object = None) -> tuple[int, Any]:
    status, data = page.evaluate(API_FETCH, [method, path, body])
    return int(status), data


def turn_on_two_factor(page: Page) -> list[str]:
    """Two-factor on for the signed-in user (just signed in, so no step-up); the
    recovery codes."""
    status, enrolment = api(page, "POST", "/api/auth/2fa/enrol")
    assert status == 200, enrolment
    code, _ = code_after(pyotp.TOTP(enrolment["secret"]), -1)
    status, confirmed = api(page, "POST", "/api/auth/2fa/enrol/confirm", {"code": code})
    assert status == 200, confirmed
    codes: list[str] = confirmed["recovery_codes"]
    return codes


def make_admin(page: Page, stack: Stack, *, two_factor: bool = True) -> tuple[str, list[str]]:
    """Sign up in ``page`` and become an administrator: the username and, with
    two-factor, the recovery codes."""
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    codes = turn_on_two_factor(page) if two_factor else []
    run_sql(stack, "UPDATE users SET is_superuser = true WHERE username = $1", username)
    return username, codes


def user_id(page: Page) -> str:
    status, me = api(page, "GET", "/api/users/me")
    assert status == 200, me
    return str(me["id"])


def expect_not_found(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.status == 404, (path, response.status)
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def test_admin_disables_and_enables_a_user(page: Page, browser: Browser, stack: Stack) -> None:
    admin, _ = make_admin(page, stack)
    other = browser.new_context(base_url=stack.web_url, viewport={"width": 1280, "height": 800})
    try:
        someone = other.new_page()
        username = unique_username()
        sign_up(someone, username)
        expect(someone).to_have_url(re.compile(r"/account$"))

        # The main navigation offers the console to administrators.
        page.reload()
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
        expect(page).to_have_url(re.compile(r"/admin$"))
        expect(page.get_by_role("heading", name="Users")).to_be_visible()
        check_accessibility(page, "admin-users")

        # Search by the start of the username, in any case; the search is in the URL.
        page.get_by_label("Search users").fill(username.upper())
        page.get_by_label("Status", exact=True).select_option("Active")
        page.get_by_role("button", name="Search").click()
        expect(page).to_have_url(re.compile(r"/admin\?q=E2E_[0-9A-F]+&active=true"))
        rows = page.get_by_role("table", name="Accounts").get_by_role("row")
        expect(rows).to_have_count(2)  # the header and the account
        expect(page.get_by_label("Search users")).to_have_value(username.upper())
        page.get_by_role("link", name=username, exact=True).click()

        expect(page.get_by_role("heading", level=1)).to_have_text(username)
        profile = page.get_by_role("region", name="Profile")
        expect(profile).to_contain_text(f"{username}@example.com (not confirmed)")
        expect(profile).to_contain_text(re.compile(r"Status\s*Active"))
        sessions = page.get_by_role("list", name=f"Sessions of {username}").get_by_role("listitem")
        expect(sessions).to_have_count(1)
        check_accessibility(page, "admin-user")

        # Disabling asks first; cancelling leaves the account as it was.
        actions = page.get_by_role("region", name="Actions")
        actions.get_by_role("button", name="Disable account").click()
        confirm = actions.get_by_role("group", name=f"Disable {username}?")
        expect(confirm.get_by_role("heading")).to_be_focused()
        check_accessibility(page, "admin-user-confirm-disable")
        confirm.get_by_role("button", name="Cancel").click()
        expect(confirm).to_have_count(0)
        actions.get_by_role("button", name="Disable account").click()
        confirm.get_by_role("button", name="Yes, disable").click()
        expect(actions.get_by_role("status")).to_have_text(
            f"{username} is disabled and signed out everywhere."
        )
        expect(profile).to_contain_text(re.compile(r"Status\s*Disabled"))
        expect(page.get_by_role("region", name="Sessions")).to_contain_text(
            "Not signed in anywhere."
        )
        expect(actions.get_by_role("button", name="Enable account")).to_be_visible()

        # The account's open browser is signed out on its next navigation, and cannot
        # sign in again while the account is disabled.
        someone.goto("/notes")
        expect(someone).to_have_url(re.compile(r"/login\?next=%2Fnotes$"))
        someone.get_by_label("Username or email").fill(username)
        someone.get_by_label("Password").fill(PASSWORD)
        someone.get_by_role("button", name="Sign in").click()
        expect(main_alert(someone)).to_be_visible()
        expect(someone).to_have_url(re.compile(r"/login\?next=%2Fnotes$"))

        actions.get_by_role("button", name="Enable account").click()
        expect(actions.get_by_role("status")).to_have_text(
            f"{username} is enabled and can sign in again."
        )
        expect(profile).to_contain_text(re.compile(r"Status\s*Active"))
        someone.get_by_label("Username or email").fill(username)
        someone.get_by_label("Password").fill(PASSWORD)
        someone.get_by_role("button", name="Sign in").click()
        expect(someone).to_have_url(re.compile(r"/notes$"))

        # Both actions are in the account's recent events and in the audit trail, with
        # the administrator who took them.
        page.reload()
        recent = page.get_by_role("table", name=f"Newest events of {username}")
        expect(recent).to_contain_text("Account disabled by an administrator")
        expect(recent).to_contain_text("Account enabled by an administrator")

        page.get_by_role("navigation", name="Admin").get_by_role("link", name="Events").click()
        expect(page).to_have_url(re.compile(r"/admin/events$"))
        events = page.get_by_role("table", name="Events, newest first")
        for label in ("Account disabled", "Account enabled"):
            row = events.get_by_role("row").filter(has_text=label).filter(has_text=username)
            expect(row).to_have_count(1)
            expect(row).to_contain_text(f"by {admin}")
        check_accessibility(page, "admin-events")

        # Filtered by kind, in the URL like the users list.
        page.get_by_label("Event", exact=True).select_option("Account disabled by an administrator")
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(re.compile(r"/admin/events\?kind=admin_user_disabled"))
        expect(events.get_by_role("row").nth(1)).to_contain_text(
            "Account disabled by an administrator"
        )
        expect(events).not_to_contain_text("Account enabled by an administrator")
        expect(events.get_by_role("link", name=username)).to_have_count(1)
    finally:
        other.close()


def test_admin_pages_are_not_found_for_anyone_else(page: Page, stack: Stack) -> None:
    # Signed out: sent to sign in like any protected page.
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fadmin$"))

    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(
        ["Account", "Notes"]
    )
    own_id = user_id(page)
    for path in ("/admin", "/admin/events", f"/admin/users/{own_id}", "/admin/users/x?q=1"):
        expect_not_found(page, path)
    check_accessibility(page, "admin-not-found")
    # So does the API.
    status, body = api(page, "GET", "/api/admin/users")
    assert (status, body["code"]) == (404, "NOT_FOUND")

    # An administrator without two-factor is told to turn it on first.
    run_sql(stack, "UPDATE users SET is_superuser = true WHERE username = $1", username)
    page.goto("/admin")
    alert = main_alert(page)
    expect(alert).to_contain_text("Administrators must turn on two-factor authentication first.")
    check_accessibility(page, "admin-two-factor-required")
    alert.get_by_role("link", name="Set up two-factor authentication on your account page").click()
    expect(page).to_have_url(re.compile(r"/account#two-factor$"))


def test_an_old_sign_in_confirms_its_you_first(page: Page, browser: Browser, stack: Stack) -> None:
    admin, codes = make_admin(page, stack)
    other = browser.new_context(base_url=stack.web_url)
    try:
        someone = other.new_page()
        username = unique_username()
        sign_up(someone, username)
        expect(someone).to_have_url(re.compile(r"/account$"))
        target = user_id(someone)
    finally:
        other.close()

    # Unknown accounts are a 404 for admins too.
    expect_not_found(page, f"/admin/users/{NO_SUCH_USER}")
    expect_not_found(page, "/admin/users/not-an-id")

    # Reading needs a recent sign-in as well: the page asks for a code, then shows itself.
    age_sessions(stack, admin)
    page.goto(f"/admin/users/{target}")
    prompt = step_up_form(page)
    field = prompt.get_by_label("Authentication code")
    expect(field).to_be_focused()
    expect(page.get_by_role("region", name="Profile")).to_have_count(0)
    check_accessibility(page, "admin-step-up")
    field.fill("not a code")
    prompt.get_by_role("button", name="Continue").click()
    expect(prompt.get_by_role("alert")).to_be_visible()
    field.fill(codes[0])
    prompt.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(username)
    expect(page.get_by_role("region", name="Profile")).to_contain_text(username)
    expect(prompt).to_have_count(0)

    # Within the window, the other admin pages need nothing more.
    page.goto("/admin/events")
    expect(page.get_by_role("table", name="Events, newest first")).to_be_visible()

    # A hand-edited link the API refuses says so, with a way back.
    for path in ("/admin?cursor=not-a-cursor", "/admin/events?user_id=not-an-id"):
        page.goto(path)
        alert = main_alert(page)
        expect(alert).to_contain_text("This link holds a value the server does not accept")
        alert.get_by_role("link", name="Start again without filters").click()
        expect(page).to_have_url(re.compile(r"/admin(/events)?$"))
        expect(page.get_by_role("search")).to_be_visible()

    # An action taken after the window has passed asks again, then goes through.
    page.goto(f"/admin/users/{target}")
    age_sessions(stack, admin)
    actions = page.get_by_role("region", name="Actions")
    actions.get_by_role("button", name="Send password reset link").click()
    prompt = step_up_form(page)
    expect(prompt.get_by_label("Authentication code")).to_be_focused()
    prompt.get_by_label("Authentication code").fill(codes[1])
    prompt.get_by_role("button", name="Continue").click()
    expect(actions.get_by_role("status")).to_have_text(
        f"A password reset link is on its way to {username}@example.com."
    )
    stack.mailbox.wait_for(f"{username}@example.com", subject="Reset your")

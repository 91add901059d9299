"""Two-factor authentication in the browser: set up from /account with codes computed from
the secret the page shows, sign in with the app or a recovery code, and step-up (confirming
it's you again) before sensitive actions once the session's sign-in is more than ten
minutes old.

Each TOTP time step (30 s) is accepted once per account, and turning two-factor on spends
the current one; only the first test waits for the next step, the others use recovery
codes."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pyotp
from playwright.sync_api import Browser, Locator, Page, expect

from e2e.conftest import Stack, check_accessibility
from e2e.test_login_journey import PASSWORD, sign_up, unique_username

STEP_SECONDS = 30


def main_alert(page: Page) -> Locator:
    # Next's route announcer is role=alert too; ours live in <main>.
    return page.get_by_role("main").get_by_role("alert")


def two_factor_section(page: Page) -> Locator:
    return page.get_by_role("region", name="Two-factor authentication")


def step_up_form(page: Page) -> Locator:
    return page.get_by_role("form", name="Confirm it's you")


def current_step() -> int:
    return int(time.time()) // STEP_SECONDS


def code_after(totp: pyotp.TOTP, used_step: int) -> tuple[str, int]:
    """A code from a later time step than ``used_step`` (waiting for one if need be)
    and the step it belongs to."""
    while (step := current_step()) <= used_step:
        time.sleep((step + 1) * STEP_SECONDS - time.time() + 0.1)
    return totp.at(step * STEP_SECONDS), step


def wrong_code(totp: pyotp.TOTP) -> str:
    """Six digits that are none of the codes the API would take around now."""
    now = time.time()
    taken = {totp.at(now + offset) for offset in (-60, -30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in taken)


def run_sql(stack: Stack, query: str, *args: object) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(stack.database_url)
        try:
            await conn.execute(query, *args)
        finally:
            await conn.close()

    # Playwright's sync API owns this thread's event loop; query from another thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def age_sessions(stack: Stack, username: str) -> None:
    """As if every session of the user had last signed in 11 minutes ago: past the
    10-minute window in which sensitive actions go through without asking again."""
    run_sql(
        stack,
        "UPDATE user_sessions SET authenticated_at = now() - interval '11 minutes'"
        " WHERE user_id = (SELECT id FROM users WHERE username = $1)",
        username,
    )


def enrol(page: Page) -> tuple[pyotp.TOTP, int, list[str]]:
    """Turn two-factor on from /account (just signed in, so no step-up): the secret read
    off the page, the step whose code was spent, and the ten recovery codes."""
    section = two_factor_section(page)
    section.get_by_role("button", name="Set up two-factor authentication").click()
    secret = section.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    code, step = code_after(totp, -1)
    section.get_by_label("Code from the app").fill(code)
    section.get_by_role("button", name="Turn on").click()
    codes = section.get_by_test_id("recovery-codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    recovery = [text.strip() for text in codes.all_inner_texts()]
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in recovery), recovery
    section.get_by_role("button", name="Done").click()
    expect(section).to_contain_text("Two-factor authentication is on.")
    return totp, step, recovery


def enter_password(page: Page, username: str, path: str = "/login") -> None:
    page.goto(path)
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def test_set_up_then_sign_in_with_the_authenticator_app(page: Page) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    section = two_factor_section(page)
    expect(section).to_contain_text("Two-factor authentication is off.")

    section.get_by_role("button", name="Set up two-factor authentication").click()
    expect(section.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    check_accessibility(page, "account-two-factor-setup")
    totp = pyotp.TOTP(section.get_by_test_id("totp-secret").inner_text().replace(" ", ""))
    # A wrong code leaves two-factor off and says so.
    section.get_by_label("Code from the app").fill(wrong_code(totp))
    section.get_by_role("button", name="Turn on").click()
    expect(section.get_by_role("alert")).to_contain_text("That code is not right")
    expect(section.get_by_label("Code from the app")).to_have_value("")
    code, used_step = code_after(totp, -1)
    section.get_by_label("Code from the app").fill(code)
    section.get_by_role("button", name="Turn on").click()
    expect(section.get_by_test_id("recovery-codes").get_by_role("listitem")).to_have_count(10)
    expect(section).to_contain_text("This is the only time they are shown.")
    check_accessibility(page, "account-two-factor-recovery-codes")
    section.get_by_role("button", name="Done").click()
    expect(section).to_contain_text("Two-factor authentication is on.")
    expect(section).to_contain_text(re.compile(r"Recovery codes left\s*10"))
    check_accessibility(page, "account-two-factor-on")

    # Sign in again, on the way to another page: the password, then a code.
    log_out(page)
    enter_password(page, username, "/login?next=%2Fnotes")
    code_field = page.get_by_label("Authentication code")
    expect(code_field).to_be_focused()
    expect(code_field).to_have_attribute("inputmode", "numeric")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    expect(page.get_by_role("main")).to_contain_text(f"Signing in as {username}")
    check_accessibility(page, "login-two-factor")
    page.get_by_role("button", name="Use a recovery code instead").click()
    expect(page.get_by_label("Recovery code")).to_be_visible()
    page.get_by_role("button", name="Use your authenticator app instead").click()

    # The code already spent on turning two-factor on does not work again.
    page.get_by_label("Authentication code").fill(code)
    page.get_by_role("button", name="Verify").click()
    expect(main_alert(page)).to_contain_text("That code is not right")
    expect(page.get_by_label("Authentication code")).to_have_value("")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fnotes$"))

    fresh, _ = code_after(totp, used_step)
    page.get_by_label("Authentication code").fill(fresh)
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/notes$"))
    page.goto("/account")
    expect(two_factor_section(page)).to_contain_text("Two-factor authentication is on.")


def test_a_recovery_code_signs_in_once(page: Page, stack: Stack) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    _, _, recovery = enrol(page)
    log_out(page)

    enter_password(page, username)
    page.get_by_role("button", name="Use a recovery code instead").click()
    field = page.get_by_label("Recovery code")
    expect(field).to_be_focused()
    # Any case, with or without the hyphen.
    field.fill(recovery[0].upper().replace("-", ""))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(two_factor_section(page)).to_contain_text(re.compile(r"Recovery codes left\s*9"))
    log_out(page)

    enter_password(page, username)
    page.get_by_role("button", name="Use a recovery code instead").click()
    page.get_by_label("Recovery code").fill(recovery[0])
    page.get_by_role("button", name="Verify").click()
    expect(main_alert(page)).to_contain_text("has been used already")
    expect(page.get_by_label("Recovery code")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login$"))

    # Back to the password step, the username kept.
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_label("Username or email")).to_have_value(username)
    expect(page.get_by_label("Password")).to_be_focused()

    # A sign-in left at the code step past its time starts again from the password.
    enter_password(page, username)
    expect(page.get_by_label("Authentication code")).to_be_visible()
    run_sql(
        stack,
        "UPDATE two_factor_challenges SET expires_at = now()"
        " WHERE user_id = (SELECT id FROM users WHERE username = $1)",
        username,
    )
    page.get_by_label("Authentication code").fill("123456")
    page.get_by_role("button", name="Verify").click()
    expect(main_alert(page)).to_have_text("Your sign-in timed out. Enter your password again.")
    expect(page.get_by_label("Password")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Use a recovery code instead").click()
    page.get_by_label("Recovery code").fill(recovery[1])
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/account$"))


def test_turning_off_asks_to_confirm_its_you(page: Page, stack: Stack) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    _, _, old_codes = enrol(page)
    section = two_factor_section(page)

    # Just signed in: new recovery codes come without asking again, and the old go void.
    section.get_by_role("button", name="Generate new recovery codes").click()
    codes = section.get_by_test_id("recovery-codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    expect(section).to_contain_text("Your old recovery codes no longer work.")
    new_codes = [text.strip() for text in codes.all_inner_texts()]
    assert not set(new_codes) & set(old_codes)
    section.get_by_role("button", name="Done").click()

    # With two-factor on, the password these forms ask for is not enough once the
    # sign-in is old: a code too, after which the change goes through.
    age_sessions(stack, username)
    form = page.get_by_role("region", name="Email address")
    form.get_by_label("New email address").fill(f"{username}.new@example.com")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Change email address").click()
    step_up_form(page).get_by_label("Authentication code").fill(new_codes[1])
    step_up_form(page).get_by_role("button", name="Continue").click()
    expect(form.get_by_role("status")).to_contain_text(f"We sent a link to {username}.new@")

    age_sessions(stack, username)
    section.get_by_role("button", name="Turn off two-factor authentication").click()
    expect(section).to_contain_text("Turn off two-factor authentication?")
    section.get_by_role("button", name="Turn off", exact=True).click()
    prompt = step_up_form(page)
    field = prompt.get_by_label("Authentication code")
    expect(field).to_be_focused()
    check_accessibility(page, "account-step-up-code")
    prompt.get_by_label("Authentication code").fill(old_codes[0])
    prompt.get_by_role("button", name="Continue").click()
    expect(prompt.get_by_role("alert")).to_contain_text("That code is not right")
    expect(section).to_contain_text("Turn off two-factor authentication?")

    # The right answer finishes what was asked, with no second click.
    field.fill(new_codes[0])
    prompt.get_by_role("button", name="Continue").click()
    expect(prompt).to_have_count(0)
    expect(section.get_by_role("status")).to_have_text(
        "Two-factor authentication is off. Signing in needs only your password."
    )
    expect(section.get_by_role("button", name="Set up two-factor authentication")).to_be_visible()
    page.reload()
    expect(two_factor_section(page)).to_contain_text("Two-factor authentication is off.")

    # Signing in needs only the password again.
    log_out(page)
    enter_password(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))


def test_signing_out_everywhere_else_asks_for_the_password(
    page: Page, browser: Browser, stack: Stack
) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    other = browser.new_context(base_url=stack.web_url)
    try:
        phone = other.new_page()
        enter_password(phone, username)
        expect(phone).to_have_url(re.compile(r"/account$"))

        age_sessions(stack, username)
        page.reload()
        sessions = page.get_by_role("list", name="Your sessions").get_by_role("listitem")
        expect(sessions).to_have_count(2)
        page.get_by_role("button", name="Sign out all other sessions").click()
        prompt = step_up_form(page)
        expect(prompt.get_by_label("Your password")).to_be_focused()
        check_accessibility(page, "account-step-up-password")
        prompt.get_by_label("Your password").fill("not my password")
        prompt.get_by_role("button", name="Continue").click()
        expect(prompt.get_by_role("alert")).to_have_text("That password is not correct.")
        expect(sessions).to_have_count(2)

        prompt.get_by_label("Your password").fill(PASSWORD)
        prompt.get_by_role("button", name="Continue").click()
        expect(sessions).to_have_count(1)
        expect(prompt).to_have_count(0)

        phone.goto("/notes")
        expect(phone).to_have_url(re.compile(r"/login\?next=%2Fnotes$"))
        page.goto("/notes")
        expect(page).to_have_url(re.compile(r"/notes$"))
    finally:
        other.close()

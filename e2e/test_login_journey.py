"""The tutorial's journey in a real browser: sign up, use the protected pages, log out,
be sent to /login?next=..., log back in and land where you were."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import httpx
from playwright.sync_api import Page, expect

from e2e.conftest import Stack, check_accessibility

PASSWORD = "correct horse battery staple"


def unique_username() -> str:
    return f"e2e_{uuid.uuid4().hex[:10]}"


def sign_up(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Create account").click()


def test_signup_notes_logout_and_back(page: Page) -> None:
    username = unique_username()
    page.goto("/signup")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    check_accessibility(page, "signup")

    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_role("main")).to_contain_text(username)
    check_accessibility(page, "account")

    # No token is reachable from JavaScript: the cookie is HttpOnly, nothing is stored.
    assert "authflow_access" not in page.evaluate("document.cookie")
    assert page.evaluate("window.localStorage.length") == 0
    assert page.evaluate("window.sessionStorage.length") == 0

    page.get_by_role("link", name="Notes").click()
    expect(page).to_have_url(re.compile(r"/notes$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Notes")
    page.get_by_label("New note").fill("Buy milk")
    page.get_by_role("button", name="Add").click()
    done = page.get_by_role("checkbox", name="Mark 'Buy milk' as done")
    expect(done).to_be_visible()
    expect(done).not_to_be_checked()
    done.check()
    expect(done).to_be_checked()
    page.get_by_label("New note").fill("Call mum")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("checkbox", name="Mark 'Call mum' as done")).to_be_visible()
    check_accessibility(page, "notes")

    # Completion was saved on the server, not only in the page.
    page.reload()
    expect(page.get_by_role("checkbox", name="Mark 'Buy milk' as done")).to_be_checked()

    page.get_by_role("button", name="Delete 'Call mum'").click()
    expect(page.get_by_role("checkbox", name="Mark 'Call mum' as done")).to_have_count(0)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))

    page.goto("/notes")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fnotes$"))
    check_accessibility(page, "login")

    page.get_by_label("Username or email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/notes$"))
    expect(page.get_by_role("checkbox", name="Mark 'Buy milk' as done")).to_be_checked()


def test_wrong_password_shows_inline_error(page: Page) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))

    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("main").get_by_role("alert")
    expect(alert).to_have_text("Incorrect username/email or password.")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    check_accessibility(page, "login-error")

    # The same message for an account that does not exist.
    page.get_by_label("Username or email").fill(unique_username())
    page.get_by_role("button", name="Sign in").click()
    expect(alert).to_have_text("Incorrect username/email or password.")


def test_signup_errors_are_shown_next_to_fields(page: Page) -> None:
    username = unique_username()
    sign_up(page, username, password="password")
    alert = page.get_by_role("main").get_by_role("alert")
    expect(alert).to_contain_text("too common")
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/signup$"))
    check_accessibility(page, "signup-error")

    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    sign_up(page, username.upper())
    expect(page.get_by_role("main").get_by_role("alert")).to_contain_text("taken")


def test_next_only_goes_to_same_origin_paths(page: Page) -> None:
    username = unique_username()
    sign_up(page, username)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    for hostile in (
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/.//evil.example",
        "/..//evil.example",
    ):
        page.goto("/login?next=" + quote(hostile, safe=""))
        page.get_by_label("Username or email").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"^http://localhost:\d+/account$"))
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(re.compile(r"/login$"))


def test_public_pages_are_accessible(page: Page) -> None:
    for path, name, heading in (
        ("/", "home", None),
        ("/login", "login-empty", "Sign in"),
        ("/forgot-password", "forgot-password", "Reset your password"),
        ("/no-such-page", "not-found", None),
    ):
        page.goto(path)
        if heading:
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        check_accessibility(page, name)


def test_protected_pages_redirect_without_login(page: Page) -> None:
    for path in ("/account", "/notes"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/login\?next=%2F" + path[1:] + "$"))


def test_forged_cookie_is_refused_by_the_real_check(page: Page, stack: Stack) -> None:
    # Refused by the proxy before any page runs (and by the API behind it).
    page.context.add_cookies(
        [
            {
                "name": "__Host-authflow_access",
                "value": "forged.token.value",
                "domain": "localhost",
                "path": "/",
                "secure": True,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faccount$"))


def test_api_is_reached_through_the_web_origin(stack: Stack) -> None:
    r = httpx.get(f"{stack.web_url}/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}

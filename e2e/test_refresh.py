"""Expired access tokens are renewed without logging anyone out: page navigations go
through /api/auth/resume, and API calls from many tabs share one refresh."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import asyncpg
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import Stack
from e2e.test_login_journey import sign_up, unique_username

ACCESS = "__Host-authflow_access"


def spent_refresh_tokens(stack: Stack, username: str) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(stack.database_url)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM spent_refresh_tokens t"
                    " JOIN user_sessions s ON s.id = t.session_id"
                    " JOIN users u ON u.id = s.user_id WHERE u.username = $1",
                    username,
                )
            )
        finally:
            await conn.close()

    # Playwright's sync API owns this thread's event loop; query from another thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, count()).result()


def expire_access_token(context: BrowserContext) -> None:
    # What the browser does when the access cookie's lifetime ends.
    context.clear_cookies(name=ACCESS)


def reject_access_token(context: BrowserContext) -> None:
    """An access cookie whose signature no longer verifies while its exp is still ahead, so
    no timer anticipates it: the first to notice are the tabs' API calls."""
    cookie = next(c for c in context.cookies() if c["name"] == ACCESS)
    head, body, signature = cookie["value"].split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    context.add_cookies([{**cookie, "value": f"{head}.{body}.{flipped}"}])


def test_navigation_with_expired_access_token_resumes(
    page: Page, context: BrowserContext, stack: Stack
) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    expire_access_token(context)

    page.goto("/notes")
    expect(page).to_have_url(re.compile(r"/notes$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Notes")
    assert spent_refresh_tokens(stack, username) == 1


def test_five_tabs_refresh_once(page: Page, context: BrowserContext, stack: Stack) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    tabs = [page] + [context.new_page() for _ in range(4)]
    for tab in tabs:
        tab.goto("/notes")
        expect(tab.get_by_role("heading", level=1)).to_have_text("Notes")

    refreshes: list[str] = []
    context.on(
        "request",
        lambda r: refreshes.append(r.url) if r.url.endswith("/api/auth/refresh") else None,
    )
    reject_access_token(context)
    # Every tab calls the API at once; each gets a 401 and must not refresh on its own.
    for i, tab in enumerate(tabs):
        tab.get_by_label("New note").fill(f"note from tab {i}")
    # Press "Add" in all five tabs at the same wall-clock instant.
    press_add_at = """(at) => setTimeout(() => {
        const buttons = [...document.querySelectorAll("button")];
        buttons.find((b) => b.textContent.trim() === "Add").click();
    }, at - Date.now())"""
    at = tabs[0].evaluate("Date.now()") + 750
    for tab in tabs:
        tab.evaluate(press_add_at, at)
    for i, tab in enumerate(tabs):
        expect(
            tab.get_by_role("checkbox", name=f"Mark 'note from tab {i}' as done")
        ).to_be_visible()

    assert spent_refresh_tokens(stack, username) == 1
    # One tab refreshed; the others waited for it and found the shared cookies renewed.
    assert len(refreshes) == 1, refreshes
    # Still signed in everywhere.
    tabs[0].goto("/account")
    expect(tabs[0]).to_have_url(re.compile(r"/account$"))
    expect(tabs[0].get_by_role("list", name="Your sessions").get_by_role("listitem")).to_have_count(
        1
    )

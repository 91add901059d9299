"""The development mailbox: absent from the test stack, and in development a new user reads
the verification message there and follows its link.

The shared stack runs the API with AUTHFLOW_ENV=test, so for development this module starts
a second API process with AUTHFLOW_ENV=development on the same database (its outbox worker
off, so the stack's worker still delivers everything to the test SMTP server), plus a
second ``next start`` of the same build whose server side talks to it. The page fetches
the mailbox on the server (AUTHFLOW_API_URL, read at run time), so no second ``next build``
is needed; everything else the browser does goes to the stack's own web app and API, as
the links in the messages point there (AUTHFLOW_WEB_ORIGIN).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from authflow import devdb
from e2e.conftest import FRONTEND, PYTHON, VAR, Stack, _stop, _wait_for, check_accessibility
from e2e.test_login_journey import sign_up, unique_username


@dataclass(frozen=True)
class DevStack:
    web_url: str
    api_url: str


@pytest.fixture(scope="module")
def dev_stack(stack: Stack) -> Iterator[DevStack]:
    api_port, web_port = devdb.free_port(), devdb.free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    web_url = f"http://localhost:{web_port}"
    env = {
        **stack.env,
        "AUTHFLOW_ENV": "development",
        # Reads the outbox only; delivering stays with the stack's API.
        "AUTHFLOW_OUTBOX_WORKER": "false",
        "AUTHFLOW_API_URL": api_url,
    }
    logs = VAR / "log"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with (logs / "e2e-dev-api.log").open("wb") as api_log:
            procs.append(
                subprocess.Popen(
                    [
                        PYTHON,
                        "-m",
                        "uvicorn",
                        "authflow.main:create_app",
                        "--factory",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(api_port),
                        "--log-level",
                        "warning",
                        "--no-proxy-headers",
                    ],
                    env=env,
                    stdout=api_log,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_for(f"{api_url}/api/health", procs[-1], "development API")
        with (logs / "e2e-dev-web.log").open("wb") as web_log:
            procs.append(
                subprocess.Popen(
                    [
                        str(FRONTEND / "node_modules" / ".bin" / "next"),
                        "start",
                        "-H",
                        "127.0.0.1",
                        "-p",
                        str(web_port),
                    ],
                    cwd=FRONTEND,
                    env=env,
                    stdout=web_log,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_for(f"{web_url}/login", procs[-1], "development web app")
        yield DevStack(web_url=web_url, api_url=api_url)
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_there_is_no_mailbox_outside_development(page: Page, stack: Stack) -> None:
    response = page.goto("/dev/mailbox")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    for path in ("/api/dev/mailbox", "/api/dev/mailbox/00000000-0000-0000-0000-000000000000"):
        r = httpx.get(f"{stack.api_url}{path}")
        assert r.status_code == 404, path
        assert r.json()["code"] == "NOT_FOUND"
    paths = httpx.get(f"{stack.api_url}/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/api/dev")]


def test_a_new_user_confirms_the_address_from_the_mailbox(
    page: Page, context: BrowserContext, stack: Stack, dev_stack: DevStack
) -> None:
    username = unique_username()
    address = f"{username}@example.com"
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))

    response = page.goto(f"{dev_stack.web_url}/dev/mailbox")
    assert response is not None
    assert response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Development mailbox")
    messages = page.get_by_role("list", name="Messages, newest first").get_by_role("listitem")
    # Newest first: the message this sign-up just queued leads the list.
    expect(messages.first).to_contain_text(address)
    expect(messages.first).to_contain_text("Confirm your email address")
    messages.first.get_by_role("link").click()

    expect(page).to_have_url(re.compile(r"/dev/mailbox\?id=[0-9a-f-]{36}$"))
    message = page.get_by_role("article")
    expect(message.get_by_role("heading", level=2)).to_contain_text("Confirm your email address")
    expect(message).to_contain_text(address)
    check_accessibility(page, "dev-mailbox")

    # The HTML part, sandboxed: its links open in a new tab.
    frame = page.frame_locator("iframe[title^='HTML part of']")
    expect(frame.get_by_role("heading", level=1)).to_contain_text("Confirm your email address")
    with context.expect_page() as popup_info:
        frame.get_by_role("link", name=re.compile("confirm", re.IGNORECASE)).first.click()
    popup = popup_info.value
    expect(popup).to_have_url(re.compile(r"/verify-email\?token="))
    popup.close()

    # The plain-text part's link, in this tab, to the web app the message points at.
    link = message.get_by_role("link", name=re.compile(r"verify-email\?token="))
    expect(link).to_have_attribute("href", re.compile(f"^{re.escape(stack.web_url)}/"))
    link.click()
    expect(page).to_have_url(re.compile(r"/verify-email\?token="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your email address")
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("status")).to_contain_text(f"{address} is confirmed")

    page.goto("/account")
    expect(page.get_by_role("main")).to_contain_text("(confirmed)")


def queue_delivered_message(stack: Stack, address: str) -> None:
    """A message as the outbox holds it once sent (so the stack's worker leaves it be)."""

    async def insert() -> None:
        conn = await asyncpg.connect(stack.database_url)
        try:
            await conn.execute(
                "INSERT INTO email_outbox (id, kind, to_address, subject, text_body, html_body,"
                " created_at, next_attempt_at, attempts, sent_at)"
                " VALUES ($1, 'e2e', $2, 'Queued by the test', 'Hello', '<p>Hello</p>',"
                " now(), now(), 1, now())",
                uuid.uuid4(),
                address,
            )
        finally:
            await conn.close()

    # Playwright's sync API owns this thread's event loop; query from another thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, insert()).result()


def test_refresh_and_unknown_messages(page: Page, stack: Stack, dev_stack: DevStack) -> None:
    page.goto(f"{dev_stack.web_url}/dev/mailbox?id=not-a-message")
    expect(page.get_by_role("main").get_by_role("alert")).to_contain_text(
        "That message is not in the outbox."
    )
    page.goto(f"{dev_stack.web_url}/dev/mailbox?id={uuid.uuid4()}")
    expect(page.get_by_role("main").get_by_role("alert")).to_contain_text(
        "That message is not in the outbox."
    )
    first = page.get_by_role("list", name="Messages, newest first").get_by_role("listitem").first

    address = f"{unique_username()}@example.com"
    queue_delivered_message(stack, address)
    expect(first).not_to_contain_text(address)
    page.get_by_role("button", name="Refresh").click()
    expect(first).to_contain_text(address)
    expect(first).to_contain_text("sent")

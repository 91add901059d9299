"""Two API instances behind the web app (docs/deployment.md): the balancer alternates per
request, so a browser's session, CSRF token, refresh and sign-out each meet both instances.
Each test reads the instances' access logs to show which one answered what."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from e2e.conftest import VAR, Stack
from e2e.test_account import sign_in
from e2e.test_login_journey import sign_up, unique_username
from e2e.test_refresh import expire_access_token, spent_refresh_tokens

INSTANCES = ("a", "b")


class Traffic:
    """What reached each instance from now on: the balancer's counts and the access logs."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.counts = stack.balancer_counts()
        self.offsets = {name: self._log(name).stat().st_size for name in INSTANCES}

    @staticmethod
    def _log(name: str) -> Path:
        return VAR / "log" / f"e2e-api-{name}.log"

    def served(self) -> dict[str, int]:
        now = self.stack.balancer_counts()
        return {name: now[name] - self.counts[name] for name in INSTANCES}

    def requests(self, name: str) -> list[dict[str, Any]]:
        with self._log(name).open("rb") as log:
            log.seek(self.offsets[name])
            lines = log.read().split(b"\n")[:-1]  # the last one may be half written
        entries = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # not the API's own JSON (uvicorn's few lines)
            if isinstance(entry, dict) and entry.get("logger") == "authflow.access":
                entries.append(entry)
        return entries

    def answers(self, method: str, path: str, status: int) -> list[str]:
        """The instance that answered each ``method path`` with ``status``."""
        return [
            name
            for name in INSTANCES
            for r in self.requests(name)
            if (r["method"], r["path"], r["status"]) == (method, path, status)
        ]

    def forwarded(self) -> int:
        return sum(self.stack.balancer_counts().values())

    def nudge(self) -> None:
        """One request through the balancer, so the browser's next one goes to the other
        instance than it would have."""
        httpx.get(f"{self.stack.api_url}/api/health", timeout=5, trust_env=False)


def until_both_answer(
    traffic: Traffic,
    method: str,
    path: str,
    status: int,
    step: Callable[[], None],
    tries: int = 6,
) -> None:
    """Run ``step`` until both instances have answered ``method path`` with ``status``.
    A step that sends an even number of requests would keep sending that one to the same
    instance: then shift the alternation by one before the next step."""
    got = traffic.answers(method, path, status)
    for _ in range(tries):
        seen = len(got)
        forwarded = traffic.forwarded()
        step()
        # The access-log line is written as the answer leaves, so it is there at once or
        # very nearly.
        deadline = time.monotonic() + 5
        while len(got := traffic.answers(method, path, status)) == seen:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if set(got) == set(INSTANCES):
            return
        if (traffic.forwarded() - forwarded) % 2 == 0:
            traffic.nudge()
    raise AssertionError(f"{method} {path} {status}: {got}")


def assert_both_served(traffic: Traffic) -> None:
    served = traffic.served()
    assert all(served[name] > 0 for name in INSTANCES), served


def test_a_session_works_at_both_instances(
    page: Page, context: BrowserContext, stack: Stack
) -> None:
    traffic = Traffic(stack)
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))

    # Each page load checks the session server-side (GET /api/users/me) at one instance.
    def load_pages() -> None:
        for path, heading in (("/notes", "Notes"), ("/account", "Your account")):
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)

    until_both_answer(traffic, "GET", "/api/users/me", 200, load_pages)

    # The CSRF token one instance issued is accepted by both.
    page.goto("/notes")
    added: list[str] = []

    def add_note() -> None:
        added.append(f"note {len(added)}")
        page.get_by_label("New note").fill(added[-1])
        page.get_by_role("button", name="Add").click()
        expect(page.get_by_role("checkbox", name=f"Mark '{added[-1]}' as done")).to_be_visible()

    until_both_answer(traffic, "POST", "/api/notes", 201, add_note)

    # The refresh token from the sign-up is renewed by whichever instance gets it, and the
    # renewed session carries on at both.
    expire_access_token(context)
    page.goto("/notes")
    expect(page).to_have_url(re.compile(r"/notes$"))
    assert spent_refresh_tokens(stack, username) == 1
    renewed = Traffic(stack)

    def reload_notes() -> None:
        page.reload()
        expect(page.get_by_role("checkbox", name=f"Mark '{added[0]}' as done")).to_be_visible()

    until_both_answer(renewed, "GET", "/api/notes", 200, reload_notes)
    assert spent_refresh_tokens(stack, username) == 1
    assert_both_served(traffic)


def test_sign_out_ends_the_session_at_both_instances(
    page: Page, context: BrowserContext, browser: Browser, stack: Stack
) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))
    cookies = context.cookies()

    copy = browser.new_context(base_url=stack.web_url)
    try:
        thief = copy.new_page()

        def load_notes_with_the_copy(url: str) -> None:
            # A redirect to /login may clear cookies: start from the copy every time.
            copy.clear_cookies()
            copy.add_cookies(cookies)  # type: ignore[arg-type]
            thief.goto("/notes")
            expect(thief).to_have_url(re.compile(url))

        traffic = Traffic(stack)
        until_both_answer(
            traffic, "GET", "/api/users/me", 200, lambda: load_notes_with_the_copy(r"/notes$")
        )

        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(re.compile(r"/login$"))

        traffic = Traffic(stack)
        until_both_answer(
            traffic,
            "GET",
            "/api/users/me",
            401,
            lambda: load_notes_with_the_copy(r"/login\?next=%2Fnotes$"),
        )
        assert not traffic.answers("GET", "/api/users/me", 200)
        assert_both_served(traffic)
    finally:
        copy.close()


def test_revoking_other_sessions_is_seen_at_both_instances(
    page: Page, browser: Browser, stack: Stack
) -> None:
    username = unique_username()
    sign_up(page, username)
    expect(page).to_have_url(re.compile(r"/account$"))

    other = browser.new_context(base_url=stack.web_url)
    try:
        phone = other.new_page()
        sign_in(phone, username)
        expect(phone).to_have_url(re.compile(r"/account$"))
        cookies = other.cookies()

        page.reload()
        sessions = page.get_by_role("list", name="Your sessions").get_by_role("listitem")
        expect(sessions).to_have_count(2)
        traffic = Traffic(stack)
        page.get_by_role("button", name="Sign out all other sessions").click()
        expect(sessions).to_have_count(1)

        def load_notes_on_the_phone() -> None:
            other.clear_cookies()
            other.add_cookies(cookies)  # type: ignore[arg-type]
            phone.goto("/notes")
            expect(phone).to_have_url(re.compile(r"/login\?next=%2Fnotes$"))

        # Refused at the next request, whichever instance answers it.
        until_both_answer(traffic, "GET", "/api/users/me", 401, load_notes_on_the_phone)

        # The session that revoked the others carries on at both.
        def load_notes() -> None:
            page.goto("/notes")
            expect(page.get_by_role("heading", level=1)).to_have_text("Notes")

        until_both_answer(traffic, "GET", "/api/users/me", 200, load_notes)
        assert_both_served(traffic)
    finally:
        other.close()

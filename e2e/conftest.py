"""Browser tests against the real stack: embedded PostgreSQL, two API instances under uvicorn
behind a round-robin balancer (e2e/balancer.py) and the production build of the web app
(``next build`` + ``next start``), driven in Chromium.

Everything is started here and stopped by PID at the end of the run.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from authflow import devdb

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
ARTIFACTS = ROOT / "artifacts"
VAR = ROOT / "var"
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE = FRONTEND / "node_modules" / "axe-core" / "axe.min.js"
# Answered by e2e/balancer.py itself, never forwarded.
BALANCER_COUNTS = "/__balancer/counts"


class Mailbox:
    """aiosmtpd handler: keeps what it is sent, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def to(self, address: str, subject: str = "") -> list[EmailMessage]:
        """Messages to ``address`` whose subject contains ``subject``."""
        return [m for m in self.messages if m["To"] == address and subject in m["Subject"]]

    def wait_for(
        self, address: str, count: int = 1, timeout: float = 15, *, subject: str = ""
    ) -> EmailMessage:
        """The ``count``-th message to ``address`` (of those whose subject contains
        ``subject``): one account gets several kinds of message, so filter by subject."""
        deadline = time.monotonic() + timeout
        while True:
            sent = self.to(address, subject)
            if len(sent) >= count:
                return sent[count - 1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no email to {address} ({subject!r}) within {timeout}s")
            time.sleep(0.1)

    @staticmethod
    def link(message: EmailMessage, path: str) -> str:
        """The path and query of the first link to ``path`` in the plain-text part."""
        part = message.get_body(preferencelist=("plain",))
        assert part is not None
        match = re.search(r"https?://[^/\s]+(" + re.escape(path) + r"\?\S+)", part.get_content())
        assert match, part.get_content()
        return match.group(1)


@dataclass(frozen=True)
class Stack:
    web_url: str
    api_url: str
    database_url: str
    # What the API runs with; the `authflow` command needs the same.
    env: dict[str, str]
    # Every message the API's outbox workers delivered to the test SMTP server.
    mailbox: Mailbox
    # The API instances behind the balancer at api_url, in its order (a, b).
    backend_urls: tuple[str, ...]

    def balancer_counts(self) -> dict[str, int]:
        """Requests the balancer has sent to each instance so far: {"a": n, "b": m}."""
        url = f"{self.api_url}{BALANCER_COUNTS}"
        return dict(httpx.get(url, timeout=5, trust_env=False).json())


def _wait_for(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see var/log/e2e-*.log")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _start_api(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                PYTHON,
                "-m",
                "uvicorn",
                "authflow.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                # The balancer appends to whatever X-Forwarded-For the web app and the
                # browser sent; never take the client address from it.
                "--no-proxy-headers",
                # The API logs each request itself (JSON, with its request id).
                "--no-access-log",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _build_web(api_url: str) -> None:
    """``next build`` bakes the /api rewrite target in, so rebuild when it differs."""
    marker = FRONTEND / ".next" / "authflow-api-url"
    fresh = (FRONTEND / ".next" / "BUILD_ID").exists() and marker.exists()
    if os.environ.get("AUTHFLOW_E2E_REBUILD") != "1" and fresh and marker.read_text() == api_url:
        return
    env = {**os.environ, "AUTHFLOW_API_URL": api_url, "NEXT_TELEMETRY_DISABLED": "1"}
    subprocess.run(["npm", "run", "build"], cwd=FRONTEND, env=env, check=True)
    marker.write_text(api_url)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    api_port = int(os.environ.get("AUTHFLOW_E2E_API_PORT", "18765"))
    web_port = int(os.environ.get("AUTHFLOW_E2E_WEB_PORT", "13765"))
    api_url = f"http://127.0.0.1:{api_port}"
    web_url = f"http://localhost:{web_port}"
    for port, name in ((api_port, "AUTHFLOW_E2E_API_PORT"), (web_port, "AUTHFLOW_E2E_WEB_PORT")):
        if not devdb.port_is_free(port):
            pytest.fail(f"port {port} on 127.0.0.1 is in use; free it or set {name}")
    _build_web(api_url)

    logs = VAR / "log"
    logs.mkdir(parents=True, exist_ok=True)
    pgdata = VAR / f"e2e-postgres-{os.getpid()}"
    shutil.rmtree(pgdata, ignore_errors=True)
    db_port = devdb.free_port()
    procs: list[subprocess.Popen[bytes]] = []
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=devdb.free_port())
    smtp.start()
    try:
        devdb.init_cluster(pgdata, fast_unsafe=True)
        devdb.start(pgdata, db_port)
        env = {
            **os.environ,
            "AUTHFLOW_ENV": "test",
            "DATABASE_URL": devdb.url(db_port),
            "AUTHFLOW_KEYS_DIR": str(pgdata.parent / f"e2e-keys-{os.getpid()}"),
            "AUTHFLOW_WEB_ORIGIN": web_url,
            "AUTHFLOW_API_URL": api_url,
            "NEXT_TELEMETRY_DISABLED": "1",
            # A key rotation reaches the API within a second, not a minute.
            "AUTHFLOW_KEY_RELOAD_SECONDS": "1",
            "AUTHFLOW_EMAIL_BACKEND": "smtp",
            "AUTHFLOW_SMTP_HOST": "127.0.0.1",
            "AUTHFLOW_SMTP_PORT": str(smtp.port),
            "AUTHFLOW_SMTP_SECURITY": "none",
            "AUTHFLOW_OUTBOX_POLL_SECONDS": "0.1",
            # The web app's server forwards the browser's address (as in production).
            "AUTHFLOW_TRUSTED_PROXIES": "127.0.0.1,::1",
            # Every browser test signs up from this one address.
            "AUTHFLOW_SIGNUP_PER_IP_PER_HOUR": "100000",
        }
        subprocess.run(
            [PYTHON, "-m", "alembic", "upgrade", "head"], cwd=ROOT / "backend", env=env, check=True
        )
        # Two instances on one database, each with its own outbox worker, behind a
        # balancer that alternates per request: every test below also shows that any
        # instance carries on what the other started (docs/deployment.md).
        backend_urls = []
        for name in ("a", "b"):
            port = devdb.free_port()
            backend_urls.append(f"http://127.0.0.1:{port}")
            procs.append(_start_api(port, env, logs / f"e2e-api-{name}.log"))
            _wait_for(f"{backend_urls[-1]}/api/health", procs[-1], f"API {name}")
        with (logs / "e2e-balancer.log").open("wb") as balancer_log:
            procs.append(
                subprocess.Popen(
                    [
                        PYTHON,
                        str(ROOT / "e2e" / "balancer.py"),
                        "--port",
                        str(api_port),
                        *backend_urls,
                    ],
                    env=env,
                    stdout=balancer_log,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_for(f"{api_url}{BALANCER_COUNTS}", procs[-1], "balancer")
        with (logs / "e2e-web.log").open("wb") as web_log:
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
        _wait_for(f"{web_url}/login", procs[-1], "web app")
        yield Stack(
            web_url=web_url,
            api_url=api_url,
            database_url=devdb.url(db_port),
            env=env,
            mailbox=mailbox,
            backend_urls=tuple(backend_urls),
        )
    finally:
        for proc in reversed(procs):
            _stop(proc)
        smtp.stop()
        devdb.stop(pgdata)
        shutil.rmtree(pgdata, ignore_errors=True)
        shutil.rmtree(pgdata.parent / f"e2e-keys-{os.getpid()}", ignore_errors=True)


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    executable = CHROMIUM if Path(CHROMIUM).exists() else None
    browser = playwright_instance.chromium.launch(
        executable_path=executable, args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, stack: Stack) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=stack.web_url, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def check_accessibility(page: Page, name: str) -> None:
    """Run axe-core on the page as it is now; fail on any violation. Also screenshot it."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    violations = [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]
    assert violations == [], f"{name}: " + json.dumps(violations, indent=2)

"""Structured logs: one JSON access line per request with its request id, every record of
the request tagged with that id, no query strings, and secrets redacted."""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG

from authflow import logs
from authflow.config import Environment, Settings
from authflow.email.backends import ConsoleBackend
from authflow.email.message import OutgoingEmail
from tests.conftest import client_for, find_leaks

PASSWORD = "correct horse battery staple"
JWT = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImFiYyIsInR5cCI6ImF0K2p3dCJ9"
    ".eyJzdWIiOiIxMjMiLCJzaWQiOiI0NTYifQ"
    ".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
)
OPAQUE = "q3Yx0Jm9VbP2nL8sR4tW6zA1cE5gH7kM9oQ2uS4wY6a"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(autouse=True)
def _logging_as_the_app_configures_it(settings: Settings) -> Iterator[None]:
    """Each test may reconfigure logging; put back what the shared app set up."""
    logs.configure(settings)
    yield
    logs.configure(settings)


def json_lines(err: str) -> list[dict[str, Any]]:
    out = []
    for line in err.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def access_lines(err: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(err) if line.get("logger") == "authflow.access"]


def _app_that_logs(make_app: Any) -> FastAPI:
    app: FastAPI = make_app()

    async def chatty() -> dict[str, str]:
        logging.getLogger("authflow.test").warning("inside the handler")
        return {"ok": "yes"}

    async def boom() -> None:
        raise RuntimeError("nobody handled this")

    app.add_api_route("/api/test/chatty", chatty)
    app.add_api_route("/api/test/boom", boom)
    return app


class TestAccessLog:
    async def test_one_json_line_per_request_without_the_query_string(
        self, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
    ) -> None:
        capsys.readouterr()
        r = await client.get(
            "/api/health", params={"token": OPAQUE, "password": "let me in please", "next": "/a"}
        )
        assert r.status_code == 200
        err = capsys.readouterr().err
        [line] = access_lines(err)
        assert line["level"] == "INFO"
        assert line["method"] == "GET"
        assert line["path"] == "/api/health"
        assert line["status"] == 200
        assert isinstance(line["duration_ms"], float)
        assert line["duration_ms"] >= 0
        assert line["client_ip"] == "203.0.113.7"
        assert line["request_id"] == r.headers["x-request-id"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
        assert line["message"].startswith("GET /api/health 200 ")
        for secret in (OPAQUE, "let me in please", "token=", "?"):
            assert secret not in json.dumps(line)
        assert OPAQUE not in err

    async def test_failed_requests_are_logged_with_their_status(
        self, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
    ) -> None:
        capsys.readouterr()
        assert (await client.get("/api/users/me")).status_code == 401
        assert (await client.post("/api/auth/login", json={})).status_code == 422
        assert (await client.get("/nowhere")).status_code == 404
        statuses = [line["status"] for line in access_lines(capsys.readouterr().err)]
        assert statuses == [401, 422, 404]

    async def test_unhandled_exception_logs_traceback_once_with_the_request_id(
        self, make_app: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        app = _app_that_logs(make_app)
        capsys.readouterr()
        async with client_for(app) as c:
            r = await c.get("/api/test/boom")
        assert r.status_code == 500
        lines = json_lines(capsys.readouterr().err)
        [crash] = [line for line in lines if line.get("exc_info")]
        assert crash["level"] == "ERROR"
        assert crash["request_id"] == r.headers["x-request-id"]
        assert "RuntimeError: nobody handled this" in crash["exc_info"]
        [access] = [line for line in lines if line.get("logger") == "authflow.access"]
        assert access["status"] == 500


class TestRequestId:
    async def test_a_well_formed_incoming_id_is_kept(
        self, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
    ) -> None:
        capsys.readouterr()
        r = await client.get("/api/health", headers={"X-Request-ID": "edge-42.abc_DEF"})
        assert r.headers["x-request-id"] == "edge-42.abc_DEF"
        [line] = access_lines(capsys.readouterr().err)
        assert line["request_id"] == "edge-42.abc_DEF"

    @pytest.mark.parametrize(
        "bad",
        [
            b"",
            b"a" * 65,
            b"has space",
            b"slash/in/it",
            b"<script>alert(1)</script>",
            b"${jndi:ldap://evil.example/a}",
            b"caf\xc3\xa9",
            b'quote"s',
        ],
    )
    async def test_anything_else_is_replaced(
        self, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], bad: bytes
    ) -> None:
        capsys.readouterr()
        r = await client.get("/api/health", headers=[(b"X-Request-ID", bad)])
        assert r.status_code == 200
        rid = r.headers["x-request-id"]
        assert GENERATED_ID.fullmatch(rid)
        err = capsys.readouterr().err
        [line] = access_lines(err)
        assert line["request_id"] == rid
        if bad:
            assert bad.decode("latin-1") not in err

    async def test_ids_are_generated_fresh_for_each_request(
        self, client: httpx.AsyncClient
    ) -> None:
        ids = {(await client.get("/api/health")).headers["x-request-id"] for _ in range(5)}
        assert len(ids) == 5
        assert all(GENERATED_ID.fullmatch(i) for i in ids)

    async def test_every_record_of_a_request_carries_its_id(
        self, make_app: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        app = _app_that_logs(make_app)
        capsys.readouterr()
        async with client_for(app) as c:
            first = await c.get("/api/test/chatty")
            second = await c.get("/api/test/chatty")
        logging.getLogger("authflow.test").warning("outside any request")
        lines = json_lines(capsys.readouterr().err)
        inside = [line for line in lines if line["message"] == "inside the handler"]
        assert [line["request_id"] for line in inside] == [
            first.headers["x-request-id"],
            second.headers["x-request-id"],
        ]
        [outside] = [line for line in lines if line["message"] == "outside any request"]
        assert "request_id" not in outside


class TestConfiguration:
    async def test_text_format_is_for_people(
        self, settings: Settings, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
    ) -> None:
        logs.configure(settings.model_copy(update={"log_format": "text"}))
        capsys.readouterr()
        r = await client.get("/api/health", params={"token": OPAQUE})
        err = capsys.readouterr().err
        [line] = [line for line in err.splitlines() if "authflow.access" in line]
        assert not line.startswith("{")
        assert f"[{r.headers['x-request-id']}]" in line
        assert "GET /api/health 200 " in line
        assert "203.0.113.7" in line
        assert OPAQUE not in err

    def test_format_defaults_to_text_only_in_development(self, settings: Settings) -> None:
        for env, expected in (
            (Environment.development, "text"),
            (Environment.test, "json"),
            (Environment.production, "json"),
        ):
            assert logs.log_format(settings.model_copy(update={"env": env})) == expected
        explicit = settings.model_copy(
            update={"env": Environment.development, "log_format": "json"}
        )
        assert logs.log_format(explicit) == "json"

    def test_settings_are_validated(self, settings: Settings) -> None:
        assert Settings(log_level="debug", log_format="TEXT").log_level == "DEBUG"
        with pytest.raises(ValueError, match="log_level"):
            Settings(log_level="chatty")
        with pytest.raises(ValueError, match="log_format"):
            Settings(log_format="xml")

    async def test_level_setting_drops_quieter_records(
        self, settings: Settings, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
    ) -> None:
        logs.configure(settings.model_copy(update={"log_level": "WARNING"}))
        capsys.readouterr()
        await client.get("/api/health")
        assert access_lines(capsys.readouterr().err) == []

    def test_reconfiguring_keeps_one_handler(self, settings: Settings) -> None:
        logs.configure(settings)
        logs.configure(settings)
        ours = [h for h in logging.getLogger().handlers if h.get_name() == logs.HANDLER_NAME]
        assert len(ours) == 1

    def test_uvicorn_error_log_goes_through_ours_and_its_access_log_is_off(
        self, settings: Settings, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # What `uvicorn` sets up before it calls our factory.
        logging.config.dictConfig(LOGGING_CONFIG)
        logs.configure(settings)
        capsys.readouterr()
        logging.getLogger("uvicorn.error").error("uvicorn speaking")
        logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /x?token=%s" 200', OPAQUE)
        captured = capsys.readouterr()
        [line] = json_lines(captured.err)
        assert line["logger"] == "uvicorn.error"
        assert line["message"] == "uvicorn speaking"
        assert "color_message" not in line
        assert OPAQUE not in captured.err + captured.out


def _record(
    msg: str,
    *args: object,
    exc: BaseException | None = None,
    extra: dict[str, Any] | None = None,
    stack: str | None = None,
) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logging.getLogger("authflow.test").makeRecord(
        "authflow.test", logging.WARNING, __file__, 1, msg, args, exc_info, extra=extra
    )
    record.stack_info = stack
    return record


def _emit(record: logging.LogRecord, *, allow_unredacted: bool = False) -> str:
    """What our handler would write for this record (built here, never logged, so the
    secrets in these tests do not reach the suite's own log capture)."""
    assert logs.RedactSecrets(allow_unredacted=allow_unredacted).filter(record)
    return logs.json_formatter().format(record)


class TestRedaction:
    @pytest.mark.parametrize(
        ("text", "secret"),
        [
            (f"login with password={PASSWORD}", "horse battery"),
            (f"body {{'password': '{PASSWORD}'}}", PASSWORD),
            (f'body {{"new_password": "{PASSWORD}", "x": 1}}', PASSWORD),
            (f"Authorization: Bearer {OPAQUE}", OPAQUE),
            (f"authorization=Basic {OPAQUE}", OPAQUE),
            (f"GET /api/auth/verify?token={OPAQUE}&next=/account", OPAQUE),
            (f"cookie: __Secure-authflow_refresh={OPAQUE}; theme=dark", OPAQUE),
            (f"__Host-authflow_csrf={OPAQUE}", OPAQUE),
            (f"refresh_token: {OPAQUE}", OPAQUE),
            (f"client_secret={OPAQUE}", OPAQUE),
            (f"here is a jwt {JWT} in prose", JWT),
            (f"here is half a jwt {JWT.split('.')[0]}", JWT.split(".")[0]),
            (f"AUTHFLOW_SECRET_KEY={OPAQUE}", OPAQUE),
        ],
    )
    def test_secret_shaped_values_are_redacted(self, text: str, secret: str) -> None:
        out = _emit(_record(text))
        assert secret not in out
        assert logs.REDACTED in out

    def test_harmless_text_is_untouched(self) -> None:
        for text in (
            "password reset requested for user 42",
            "GET /api/health 200 1.2ms",
            "token expired; ask for a new link",
            "refresh failed: session revoked",
        ):
            assert json.loads(_emit(_record(text)))["message"] == text

    def test_arguments_extras_tracebacks_and_stacks(self) -> None:
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError as caught:
            exc = caught
        record = _record(
            "signing in %s with %s",
            "alice",
            f"password={PASSWORD}",
            exc=exc,
            extra={"password": PASSWORD, "detail": {"token": OPAQUE, "n": 1}, "note": JWT},
            stack=f"Stack (most recent call last):\n  token={OPAQUE}",
        )
        out = _emit(record)
        assert not find_leaks([out], {PASSWORD, OPAQUE, JWT})
        data = json.loads(out)
        assert data["message"].startswith("signing in alice with password=")
        assert data["password"] == logs.REDACTED
        assert data["detail"] == {"token": logs.REDACTED, "n": 1}
        assert "ValueError: bad token" in data["exc_info"]
        assert "Traceback (most recent call last)" in data["exc_info"]

    def test_redacting_twice_changes_nothing(self) -> None:
        once = logs.redact(f"password={PASSWORD} token: {OPAQUE} {JWT}")
        assert logs.redact(once) == once

    def test_a_broken_log_call_does_not_raise(self) -> None:
        out = json.loads(_emit(_record("two %s %s", f"password={PASSWORD}")))
        assert out["message"].startswith("two %s %s (log arguments did not fit: ")
        assert PASSWORD not in out["message"]

    def test_development_only_exception_for_the_console_mail_backend(self) -> None:
        link = f"http://localhost:3000/verify-email?token={OPAQUE}"
        marked = dict(logs.UNREDACTED_IN_DEVELOPMENT)
        assert OPAQUE in _emit(_record(link, extra=marked), allow_unredacted=True)
        assert OPAQUE not in _emit(_record(link, extra=marked), allow_unredacted=False)
        assert OPAQUE not in _emit(_record(link), allow_unredacted=True)
        assert "authflow_unredacted" not in _emit(_record(link, extra=marked))


class TestConsoleMailBackend:
    async def test_links_are_readable_in_development_and_redacted_elsewhere(
        self, settings: Settings, capsys: pytest.CaptureFixture[str]
    ) -> None:
        link = f"http://localhost:3000/verify-email?token={OPAQUE}"
        message = OutgoingEmail("a@example.com", "Confirm", f"Open {link}", "<p>html</p>")
        for env, shown in ((Environment.development, True), (Environment.production, False)):
            logs.configure(settings.model_copy(update={"env": env}))
            capsys.readouterr()
            await ConsoleBackend().send(message)
            err = capsys.readouterr().err
            assert "Confirm" in err
            assert (OPAQUE in err) is shown, env


class TestLeakCheck:
    """The suite-wide capture (tests/conftest.py) fails the run on any of these."""

    def test_finds_a_known_secret_a_jwt_and_a_token_link(self) -> None:
        assert find_leaks([f'{{"message": "hello {PASSWORD}"}}'], {PASSWORD})
        assert find_leaks([f"Traceback ... {JWT}"], set())
        assert find_leaks([f"GET /verify-email?token={OPAQUE}"], set())
        assert find_leaks([f"x {OPAQUE} y"], {OPAQUE})

    def test_passes_redacted_and_harmless_lines(self) -> None:
        lines = [
            _emit(_record(f"password={PASSWORD} {JWT} ?token={OPAQUE}")),
            "GET /api/health 200",
        ]
        assert find_leaks(lines, {OPAQUE, JWT}) == []


def test_handler_writes_to_the_current_stderr(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """pytest swaps sys.stderr per test; a handler holding an old one would write into a
    closed file."""
    logs.configure(settings)
    capsys.readouterr()
    logging.getLogger("authflow.test").warning("to whoever stderr is now")
    assert "to whoever stderr is now" in capsys.readouterr().err
    assert sys.stderr is not None

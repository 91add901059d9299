"""Logging: one handler on the root logger writing JSON lines to stderr (readable text in
development), every record tagged with the id of the request it belongs to and scrubbed
of anything that looks like a secret.

``configure(settings)`` is called by ``create_app``, so it runs in every process that
serves the app, after uvicorn has set up its own loggers: uvicorn's error log then goes
through our handler (JSON too), and its access log is switched off, since it prints query
strings (``?token=`` links) and ours (``authflow.access_log``) does not.

Nothing logs request bodies or headers. Redaction is the second line of defence: a value
after a key such as ``password=``, ``token:``, ``"secret": "..."``, ``Authorization:``
or ``Cookie:``, and anything shaped like a JWT, becomes ``[REDACTED]``.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from authflow.config import Settings

HANDLER_NAME: Final = "authflow"
REDACTED: Final = "[REDACTED]"
TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"

# The id of the request being handled, set by authflow.access_log for its duration (and
# inherited by tasks it starts, such as deferred work).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "authflow_request_id", default=None
)

# `extra=` for the one record that must reach a developer as written: the console email
# backend's message, whose link is the point. Honoured only with AUTHFLOW_ENV=development.
UNREDACTED_IN_DEVELOPMENT: Final[Mapping[str, object]] = {"authflow_unredacted": True}
_UNREDACTED_ATTR = "authflow_unredacted"

# Names whose value is a secret. `authflow_...` covers our cookies (`__Host-authflow_device`).
_SECRET_NAME = (
    r"(?:password|passwd|pwd|passphrase|secret|credential|private[_-]?key|api[_-]?key"
    r"|token|authorization|cookie|csrf|refresh|authflow_[a-z_]+)"
)
_SECRET_KEY = re.compile(_SECRET_NAME, re.IGNORECASE)
# Passwords may contain spaces: their bare value runs to a delimiter, not to a blank.
_WIDE_NAME = r"(?:password|passwd|pwd|passphrase|secret|credential|private[_-]?key)"
_ALREADY = r"(?!(?:(?:bearer|basic)\s+)?\[REDACTED\])"
_QUOTED = r"""(?P<q>["'])(?P<quoted>(?:\\.|(?!(?P=q))[^\\])*)(?P=q)"""


def _key_value(name: str, bare: str) -> re.Pattern[str]:
    return re.compile(
        rf"""(?P<key>[\w.-]*{name}[\w.-]*)      # a key that names a secret
        (?P<sep>["']?\s*[:=]\s*)                # = or :, perhaps after a closing quote
        {_ALREADY}
        (?:{_QUOTED}|(?P<scheme>(?:bearer|basic)\s+)?(?P<bare>{bare}))""",
        re.IGNORECASE | re.VERBOSE,
    )


_WIDE_VALUE = _key_value(_WIDE_NAME, r"""[^"'&,;}\])\n]+""")
_NARROW_VALUE = _key_value(_SECRET_NAME, r"""[^\s"'&,;}\])]+""")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}")


def _mask(match: re.Match[str]) -> str:
    head = match.group("key") + match.group("sep")
    if match.group("q") is not None:
        return f"{head}{match.group('q')}{REDACTED}{match.group('q')}"
    return f"{head}{match.group('scheme') or ''}{REDACTED}"


# Every pattern above needs one of these words (or a JWT's "eyJ") to match. Most log text
# has none: one scan for them skips the three substitutions, whose leading `[\w.-]*`
# backtracks over each long word (a request id cost 0.3 ms, half of a bare request).
_MAY_HOLD_A_SECRET = re.compile(rf"{_SECRET_NAME}|eyJ", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``[REDACTED]``."""
    if _MAY_HOLD_A_SECRET.search(text) is None:
        return text
    text = _JWT.sub(REDACTED, text)
    text = _WIDE_VALUE.sub(_mask, text)
    return _NARROW_VALUE.sub(_mask, text)


def _redact_value(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value("", v) for v in value]
    return redact(str(value))


_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_FORMATTER = logging.Formatter()


class RedactSecrets(logging.Filter):
    """Rewrites the record in place: message rendered and scrubbed, traceback and stack
    rendered and scrubbed, extra fields scrubbed (by name and by content). Handlers that
    see the record after this one get the scrubbed version too."""

    def __init__(self, *, allow_unredacted: bool = False) -> None:
        super().__init__()
        self.allow_unredacted = allow_unredacted

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _UNREDACTED_ATTR, False):
            del record.__dict__[_UNREDACTED_ATTR]
            if self.allow_unredacted:
                return True
        try:
            message = record.getMessage()
        except Exception:
            # A broken log call must not break the request that made it.
            message = f"{record.msg} (log arguments did not fit: {record.args!r})"
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = _redact_value(key, value)
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        current = request_id.get()
        if current is not None and not hasattr(record, "request_id"):
            record.request_id = current
        return True


class _JsonFormatter(JsonFormatter):
    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)


def json_formatter() -> logging.Formatter:
    """``{"time", "level", "logger", "message", "request_id"?, extras..., "exc_info"?}``"""
    return _JsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        # uvicorn repeats its message with ANSI colours in `color_message`.
        reserved_attrs=[*RESERVED_ATTRS, "color_message", _UNREDACTED_ATTR],
    )


def text_formatter() -> logging.Formatter:
    return logging.Formatter(TEXT_FORMAT, defaults={"request_id": "-"})


class StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when the record arrives (a handler holding the
    stream it was made with writes into a closed file once pytest swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stderr
            stream.write(line + "\n")
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


def log_format(settings: Settings) -> Literal["json", "text"]:
    if settings.log_format is not None:
        return settings.log_format
    return "text" if settings.is_dev else "json"


def configure(settings: Settings) -> None:
    """Install our handler on the root logger (replacing the one a previous call made;
    handlers others added stay) and route uvicorn's loggers through it."""
    handler = StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactSecrets(allow_unredacted=settings.is_dev))
    handler.setFormatter(json_formatter() if log_format(settings) == "json" else text_formatter())

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level)

    # uvicorn gives its loggers handlers of its own before it calls our factory.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # Ours replaces it (authflow.access_log); run uvicorn with --no-access-log to skip
    # formatting lines that are dropped here anyway.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True

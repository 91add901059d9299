"""Stable error codes and the handlers that turn every failure into ``{code, detail}``."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import asyncpg
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"
    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"
    PASSWORD_TOO_COMMON = "PASSWORD_TOO_COMMON"
    PASSWORD_CONTAINS_USER_INFO = "PASSWORD_CONTAINS_USER_INFO"
    USERNAME_TAKEN = "USERNAME_TAKEN"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    LOGIN_BAD_CREDENTIALS = "LOGIN_BAD_CREDENTIALS"
    UNSUPPORTED_GRANT_TYPE = "UNSUPPORTED_GRANT_TYPE"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"
    NOTE_NOT_FOUND = "NOTE_NOT_FOUND"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    CROSS_ORIGIN_REQUEST = "CROSS_ORIGIN_REQUEST"
    CSRF_TOKEN_INVALID = "CSRF_TOKEN_INVALID"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    THROTTLE_UNAVAILABLE = "THROTTLE_UNAVAILABLE"
    EMAIL_TOKEN_INVALID = "EMAIL_TOKEN_INVALID"
    EMAIL_TOKEN_EXPIRED = "EMAIL_TOKEN_EXPIRED"
    EMAIL_TOKEN_USED = "EMAIL_TOKEN_USED"
    EMAIL_ALREADY_VERIFIED = "EMAIL_ALREADY_VERIFIED"
    NO_EMAIL_ADDRESS = "NO_EMAIL_ADDRESS"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    LOGIN_LOCKED = "LOGIN_LOCKED"
    CURRENT_PASSWORD_INCORRECT = "CURRENT_PASSWORD_INCORRECT"
    PASSWORD_UNCHANGED = "PASSWORD_UNCHANGED"
    EMAIL_UNCHANGED = "EMAIL_UNCHANGED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    HTTP_ERROR = "HTTP_ERROR"
    OUTBOX_MESSAGE_NOT_FOUND = "OUTBOX_MESSAGE_NOT_FOUND"
    TWO_FACTOR_CODE_INVALID = "TWO_FACTOR_CODE_INVALID"
    TWO_FACTOR_CHALLENGE_INVALID = "TWO_FACTOR_CHALLENGE_INVALID"
    TWO_FACTOR_REQUIRED = "TWO_FACTOR_REQUIRED"
    TWO_FACTOR_ALREADY_ENABLED = "TWO_FACTOR_ALREADY_ENABLED"
    TWO_FACTOR_NOT_ENABLED = "TWO_FACTOR_NOT_ENABLED"
    TWO_FACTOR_ENROLMENT_NOT_STARTED = "TWO_FACTOR_ENROLMENT_NOT_STARTED"
    TWO_FACTOR_ENROLMENT_REQUIRED = "TWO_FACTOR_ENROLMENT_REQUIRED"
    STEP_UP_REQUIRED = "STEP_UP_REQUIRED"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    LAST_ADMIN = "LAST_ADMIN"


# What asyncpg raises, unwrapped, when the server is gone or going (shutdown, restart,
# network): where the driver is used directly these mean "database unavailable".
DRIVER_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InterfaceError,
    # A connection left broken: among others, an idle one that received the server's
    # "terminating connection" notice (fast shutdown) and is used before the socket's
    # close arrives ("cannot switch to state 12; another operation (2) is in progress").
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


def is_database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached (as opposed to a bug in a query)."""
    if isinstance(exc, (OperationalError, InterfaceError, *DRIVER_CONNECTION_ERRORS)):
        return True
    if isinstance(exc, PoolTimeoutError):
        # No pooled connection came free within AUTHFLOW_DB_CONNECT_TIMEOUT_SECONDS:
        # every one is busy, or stuck on a server that stopped answering.
        return True
    if not isinstance(exc, DBAPIError):
        return False
    # SQLAlchemy wraps most asyncpg errors in a plain DBAPIError and marks it invalidated
    # only when a connection it held died. A server that refuses new connections while it
    # starts up or shuts down ("the database system is starting up", SQLSTATE 57P03) is
    # neither: what asyncpg raised says so.
    return exc.connection_invalidated or (
        exc.orig is not None and isinstance(exc.driver_exception, DRIVER_CONNECTION_ERRORS)
    )


# FastAPI's fixed message when the body could not be decoded at all.
BODY_PARSE_ERROR = "There was an error parsing the body"


class FieldError(BaseModel):
    field: str
    message: str
    code: str


class ErrorResponse(BaseModel):
    code: str
    detail: str
    errors: list[FieldError] | None = None


class AppError(Exception):
    """A failure the client caused or must know about; never logged as a crash."""

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        status_code: int,
        *,
        headers: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status_code = status_code
        self.headers = headers
        self.errors = errors
        # Extra top-level body members, e.g. RFC 6749's "error" at /token.
        self.extra: dict[str, str] = {}


def not_authenticated(detail: str = "Not authenticated") -> AppError:
    return AppError(
        ErrorCode.NOT_AUTHENTICATED, detail, 401, headers={"WWW-Authenticate": "Bearer"}
    )


def error_json(
    code: str,
    detail: str,
    status_code: int,
    headers: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
    extra: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(code=code, detail=detail, errors=errors).model_dump(exclude_none=True)
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status_code, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "password") -> "password"; keep nested paths readable.
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


def _validation_message(error: dict[str, Any]) -> str:
    msg = str(error.get("msg", "Invalid value"))
    # pydantic prefixes custom ValueErrors; the prefix means nothing to a person.
    return msg.removeprefix("Value error, ")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return error_json(exc.code, exc.detail, exc.status_code, exc.headers, exc.errors, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(
                field=_field_name(tuple(e.get("loc", ()))),
                message=_validation_message(e),
                code=str(e.get("type", "invalid")),
            )
            for e in exc.errors()
        ]
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        return error_json(
            ErrorCode.VALIDATION_ERROR, summary or "Invalid request", 422, None, errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
            # FastAPI's answer to a body json cannot decode (nesting too deep, an integer
            # of thousands of digits): to the client that is invalid input like any other.
            return error_json(ErrorCode.VALIDATION_ERROR, "Request body is not valid JSON", 422)
        code = {
            404: ErrorCode.NOT_FOUND,
            405: ErrorCode.METHOD_NOT_ALLOWED,
            413: ErrorCode.REQUEST_TOO_LARGE,
        }.get(exc.status_code, ErrorCode.HTTP_ERROR)
        headers = dict(exc.headers) if exc.headers else None
        return error_json(code, str(exc.detail), exc.status_code, headers)

    # Starlette runs this one outside every middleware; authflow.access_log answers the
    # same way from inside them, so what the client gets has the security headers.
    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return unexpected_error(exc)


def unexpected_error(exc: Exception) -> JSONResponse:
    """The answer to an exception nothing handled: 503 when a backing service is down,
    else a logged 500."""
    if is_database_unavailable(exc):
        logger.warning("database unavailable: %s", exc)
        return error_json(
            ErrorCode.DATABASE_UNAVAILABLE, "The service is temporarily unavailable", 503
        )
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        # Throttling fails closed: without its counters nothing may guess passwords.
        logger.warning("throttle store unavailable: %s", exc)
        return error_json(
            ErrorCode.THROTTLE_UNAVAILABLE, "The service is temporarily unavailable", 503
        )
    logger.error("unhandled error", exc_info=exc)
    return error_json(ErrorCode.INTERNAL_ERROR, "Internal server error", 500)

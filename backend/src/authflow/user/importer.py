"""Bringing accounts over from another PostgreSQL database (``authflow import-users``).

The source table has the shape of the FastAPI tutorial's: ``username`` and
``hashed_password`` (bcrypt), and ``email``, ``full_name`` and ``disabled`` when present.
The bcrypt hash is kept as it is: sign-in verifies it and stores an Argon2id hash in its
place (``PasswordHasher.verify_and_update``), so nobody needs a new password.

Nothing is ever overwritten: a row whose username or address is already in use here, or
that is not valid here (a username with an "@", a hash that is not bcrypt), is skipped
and counted. Each batch is committed on its own, so an interrupted import can simply be
run again: what it already brought over is then skipped as taken.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Row, String, Table, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from authflow.admin.service import COMMAND_LINE
from authflow.audit.service import EventKind
from authflow.config import POSTGRES_URL_PREFIXES
from authflow.errors import DRIVER_CONNECTION_ERRORS
from authflow.kit.clock import utc_now
from authflow.kit.text import identifier_key
from authflow.models import AuthEvent, User
from authflow.user.schemas import Email, FullName, Username

_users = cast(Table, User.__table__)
_events = cast(Table, AuthEvent.__table__)

REQUIRED_COLUMNS = ("username", "hashed_password")
OPTIONAL_COLUMNS = ("email", "full_name", "disabled")
# $2a$, $2b$ and $2y$ are one algorithm; $2x$ marks hashes from a buggy implementation.
BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
# An unquoted PostgreSQL identifier, optionally schema-qualified; nothing else is
# accepted, so the quoted name put into the query can only mean one table.
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]{0,62}"
TABLE_NAME = re.compile(rf"{_IDENTIFIER}(\.{_IDENTIFIER})?")
SOURCE_CONNECT_TIMEOUT_SECONDS = 10

_username = TypeAdapter(Username)
_email = TypeAdapter(Email)
_full_name = TypeAdapter(FullName)


class SkipReason(StrEnum):
    username_taken = "username already in use"
    email_taken = "email address already in use"
    taken_meanwhile = "username or email address taken during the import"
    invalid_username = "username not valid here"
    invalid_email = "email address not valid"
    invalid_full_name = "full name not valid here"
    not_bcrypt = "password hash is not bcrypt"


class ImportSourceError(Exception):
    """The source database or table cannot be read as asked."""


@dataclass
class ImportReport:
    read: int = 0
    imported: int = 0
    skipped: Counter[SkipReason] = field(default_factory=Counter)


def quoted_table_name(value: str) -> str:
    """``users`` or ``schema.users`` as a quoted SQL name; ValueError for anything else."""
    if not TABLE_NAME.fullmatch(value):
        raise ValueError(
            "must be a table name of letters, digits and '_' (optionally schema.table)"
        )
    return ".".join(f'"{part}"' for part in value.split("."))


def source_engine(url: str) -> AsyncEngine:
    if not url.startswith(POSTGRES_URL_PREFIXES):
        raise ImportSourceError("--from-database must be a postgresql:// URL")
    prefix = next(p for p in POSTGRES_URL_PREFIXES if url.startswith(p))
    try:
        return create_async_engine(
            "postgresql+asyncpg://" + url[len(prefix) :],
            poolclass=NullPool,
            hide_parameters=True,
            connect_args={"timeout": SOURCE_CONNECT_TIMEOUT_SECONDS},
        )
    except (ArgumentError, ValueError) as exc:
        raise ImportSourceError(f"--from-database is not a valid database URL: {exc}") from None


def describe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unparseable URL)"


@dataclass(frozen=True)
class _Candidate:
    values: dict[str, Any]

    @property
    def username_key(self) -> str:
        return str(self.values["username_key"])

    @property
    def email_key(self) -> str | None:
        return cast(str | None, self.values["email_key"])


def _blank_to_none(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None


def _prepare(row: Row[Any]) -> _Candidate | SkipReason:
    data = row._mapping
    try:
        username = _username.validate_python(data["username"])
    except ValidationError:
        return SkipReason.invalid_username
    email = _blank_to_none(data.get("email"))
    if email is not None:
        try:
            email = _email.validate_python(email.strip())
        except ValidationError:
            return SkipReason.invalid_email
    full_name = _blank_to_none(data.get("full_name"))
    if full_name is not None:
        try:
            full_name = _full_name.validate_python(full_name.strip())
        except ValidationError:
            return SkipReason.invalid_full_name
    hashed = data["hashed_password"]
    if hashed is None or not BCRYPT_HASH.fullmatch(hashed):
        return SkipReason.not_bcrypt
    return _Candidate(
        {
            "id": uuid.uuid4(),
            "username": username,
            "username_key": identifier_key(username),
            "email": email,
            "email_key": identifier_key(email) if email else None,
            "full_name": full_name,
            "hashed_password": hashed,
            "is_active": not data.get("disabled"),
            # We never sent this address a link: its owner confirms it here as anyone would.
            "is_verified": False,
        }
    )


async def _source_columns(conn: AsyncConnection, table: str, quoted: str) -> list[str]:
    found = (
        await conn.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": quoted})
    ).scalar_one()
    if not found:
        raise ImportSourceError(f"the source database has no table {table}")
    columns = set(
        (
            await conn.execute(
                text(
                    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:name)"
                    " AND attnum > 0 AND NOT attisdropped"
                ),
                {"name": quoted},
            )
        ).scalars()
    )
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ImportSourceError(
            f"table {table} has no column {', '.join(missing)} (needed: "
            f"{', '.join(REQUIRED_COLUMNS)}; read when present: {', '.join(OPTIONAL_COLUMNS)})"
        )
    return [*REQUIRED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in columns)]


def _select(columns: Sequence[str], quoted: str) -> str:
    # The names are ours (REQUIRED_COLUMNS, OPTIONAL_COLUMNS), the table name is quoted
    # after matching TABLE_NAME: nothing here comes from the source unchecked.
    casts = {"disabled": "boolean"}
    parts = [f'"{c}"::{casts.get(c, "text")} AS {c}' for c in columns]
    return f"SELECT {', '.join(parts)} FROM {quoted}"  # noqa: S608


async def _existing(conn: AsyncConnection, batch: list[_Candidate]) -> tuple[set[str], set[str]]:
    usernames = [c.username_key for c in batch]
    emails = [c.email_key for c in batch if c.email_key]
    # One array parameter each, however large the batch (a parameter per key would run
    # into the protocol's limit of 32767).
    rows = await conn.execute(
        select(_users.c.username_key, _users.c.email_key).where(
            (_users.c.username_key == any_(bindparam("usernames", usernames, ARRAY(String))))
            | (_users.c.email_key == any_(bindparam("emails", emails, ARRAY(String))))
        )
    )
    taken_usernames, taken_emails = set(), set()
    for row in rows:
        taken_usernames.add(row.username_key)
        if row.email_key:
            taken_emails.add(row.email_key)
    return taken_usernames, taken_emails


async def _insert(conn: AsyncConnection, batch: list[_Candidate], *, table: str) -> set[uuid.UUID]:
    # DO NOTHING, not an update: a clash that appeared since the check (a sign-up
    # meanwhile) keeps the account that is there.
    # Many parameter sets, not one VALUES list: SQLAlchemy pages them into statements
    # that stay under the protocol's parameter limit, RETURNING included.
    inserted = await conn.execute(
        insert(_users).on_conflict_do_nothing().returning(_users.c.id),
        [c.values for c in batch],
    )
    ids = set(inserted.scalars())
    if ids:
        now = utc_now()
        detail = {**COMMAND_LINE.detail(), "imported_from": table}
        await conn.execute(
            insert(_events),
            [
                {
                    "occurred_at": now,
                    "kind": EventKind.signup.value,
                    "user_id": user_id,
                    "detail": detail,
                }
                for user_id in ids
            ],
        )
    return ids


async def import_users(
    source: AsyncEngine,
    target: AsyncEngine,
    *,
    table: str,
    batch_size: int,
    dry_run: bool,
    progress: Callable[[ImportReport], None] = lambda _: None,
) -> ImportReport:
    """Copy the accounts in ``table`` of ``source`` into ``target``'s users.
    ``dry_run`` checks everything and counts, and writes nothing."""
    quoted = quoted_table_name(table)
    report = ImportReport()
    # Keys of rows accepted so far: a second "Alice" in the source clashes with the first.
    # A real import finds earlier batches in the database, so it needs only this batch's.
    usernames: set[str] = set()
    emails: set[str] = set()
    try:
        conn = await source.connect()
    except DBAPIError as exc:
        raise ImportSourceError(f"cannot reach the source database: {exc.orig}") from None
    except DRIVER_CONNECTION_ERRORS as exc:
        raise ImportSourceError(f"cannot reach the source database: {exc}") from None
    try:
        await conn.begin()
        # We only read there; the database holds us to it.
        await conn.execute(text("SET TRANSACTION READ ONLY"))
        try:
            columns = await _source_columns(conn, table, quoted)
            result = await conn.stream(text(_select(columns, quoted)))
            batches = result.partitions(batch_size)
        except DBAPIError as exc:
            raise ImportSourceError(f"cannot read table {table}: {exc.orig}") from None
        while True:
            try:
                rows = await anext(batches)
            except StopAsyncIteration:
                break
            except DBAPIError as exc:
                raise ImportSourceError(f"cannot read table {table}: {exc.orig}") from None
            if not dry_run:
                usernames.clear()
                emails.clear()
            batch = []
            for row in rows:
                report.read += 1
                prepared = _prepare(row)
                if isinstance(prepared, SkipReason):
                    report.skipped[prepared] += 1
                elif prepared.username_key in usernames:
                    report.skipped[SkipReason.username_taken] += 1
                elif prepared.email_key is not None and prepared.email_key in emails:
                    report.skipped[SkipReason.email_taken] += 1
                else:
                    usernames.add(prepared.username_key)
                    if prepared.email_key:
                        emails.add(prepared.email_key)
                    batch.append(prepared)
            await _write(target, batch, report, table=table, dry_run=dry_run)
            progress(report)
    finally:
        await conn.close()
    return report


async def _write(
    target: AsyncEngine,
    batch: list[_Candidate],
    report: ImportReport,
    *,
    table: str,
    dry_run: bool,
) -> None:
    if not batch:
        return
    async with target.begin() as conn:
        taken_usernames, taken_emails = await _existing(conn, batch)
        fresh = []
        for candidate in batch:
            if candidate.username_key in taken_usernames:
                report.skipped[SkipReason.username_taken] += 1
            elif candidate.email_key is not None and candidate.email_key in taken_emails:
                report.skipped[SkipReason.email_taken] += 1
            else:
                fresh.append(candidate)
        if dry_run or not fresh:
            report.imported += len(fresh)
            return
        inserted = await _insert(conn, fresh, table=table)
    report.imported += len(inserted)
    if len(inserted) < len(fresh):
        report.skipped[SkipReason.taken_meanwhile] += len(fresh) - len(inserted)

"""The ``authflow`` command line, for operators.

Reads the same settings as the API (``AUTHFLOW_*``, ``DATABASE_URL``). Without
``DATABASE_URL`` it uses the embedded development database under var/postgres: the running
one if ``bin/dev`` has it up, else it starts it for the command and stops it after.

Passwords are never arguments (they would sit in shell history and ``ps``): they come
from a prompt that does not echo, or with ``--password-stdin`` from standard input.
Results go to stdout, progress and errors to stderr.

Exit codes: 0 done, 1 the command failed (database unreachable, not migrated, no such
user, a password the policy refuses, ...), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from authflow import devdb
from authflow import purge as purge_module
from authflow.admin import service as admin_service
from authflow.admin.service import COMMAND_LINE
from authflow.audit import service as audit
from authflow.audit.service import EventKind
from authflow.config import REPO_ROOT, Settings
from authflow.db import create_engine, create_sessionmaker
from authflow.errors import AppError, ErrorCode, is_database_unavailable
from authflow.kit import passwords
from authflow.kit.clock import utc_now
from authflow.kit.passwords import ARGON2_MAX_MEMORY_KIB, ARGON2_MEMORY_KIB, PasswordHasher
from authflow.main import load_secret
from authflow.models import User
from authflow.signing_key import service as signing_key_service
from authflow.user import importer
from authflow.user.schemas import Email, FullName, Password, Username
from authflow.user.service import require_acceptable_password
from authflow.user.service import user as user_service

DEV_PGDATA = REPO_ROOT / "var" / "postgres"

EXIT_FAILED = 1
EXIT_USAGE = 2
# A sign-in waits this long for its hash; more than a few seconds helps nobody.
MAX_TARGET_MS = 10_000


class CommandError(Exception):
    """A failure to report in one line, without a traceback."""


def _running_dev_port(pgdata: Path) -> int | None:
    # postmaster.pid's fourth line is the port the server listens on.
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        return int(lines[3])
    except (OSError, IndexError, ValueError):
        return None


@contextmanager
def _database(settings: Settings) -> Iterator[Settings]:
    """Settings with a reachable DATABASE_URL."""
    if settings.database_url:
        yield settings
        return
    if not (DEV_PGDATA / "PG_VERSION").exists():
        raise CommandError(
            "DATABASE_URL is not set and there is no development database yet; "
            "run bin/dev once, or set DATABASE_URL"
        )
    port = _running_dev_port(DEV_PGDATA)
    if port is not None:
        yield settings.model_copy(update={"database_url": devdb.url(port)})
        return
    port = devdb.free_port()
    devdb.start(DEV_PGDATA, port)
    try:
        yield settings.model_copy(update={"database_url": devdb.url(port)})
    finally:
        devdb.stop(DEV_PGDATA)


Handler = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, None]]


def _run(settings: Settings, command: Handler, args: argparse.Namespace) -> None:
    if not args.needs_database:
        asyncio.run(command(settings, args))
        return
    try:
        with _database(settings) as ready:
            asyncio.run(command(ready, args))
    except Exception as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        if is_database_unavailable(exc):
            raise CommandError(f"cannot reach the database: {cause}") from None
        if isinstance(exc, DBAPIError) and "does not exist" in str(cause):
            raise CommandError(
                "the database is not migrated; run `alembic upgrade head` in backend/ "
                "(bin/dev does it)"
            ) from None
        raise


def _note(message: str) -> None:
    """Progress and hints: stderr, so stdout stays the command's result."""
    print(message, file=sys.stderr, flush=True)


@asynccontextmanager
async def _transaction(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One session whose transaction commits when the block ends without an error."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


def _hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(1, settings.argon2)


async def _find_user(session: AsyncSession, login: str) -> User:
    found = await user_service.get_by_login(await session.connection(), login)
    if found is None:
        raise CommandError(f"no user with the username or email address {login!r}")
    return found


# Passwords


_password = TypeAdapter(Password)
_username = TypeAdapter(Username)
_email = TypeAdapter(Email)
_full_name = TypeAdapter(FullName)


def _first_problem(exc: ValidationError) -> str:
    return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            raise CommandError("no password on standard input (--password-stdin reads one line)")
    else:
        if not _stdin_is_terminal():
            raise CommandError(
                "standard input is not a terminal, so there is nobody to ask: "
                "pass the password on standard input with --password-stdin"
            )
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise CommandError("the two passwords differ")
    try:
        return _password.validate_python(password)
    except ValidationError as exc:
        raise CommandError(f"password: {_first_problem(exc)}") from None


def _admin_hint(settings: Settings, username: str) -> None:
    if settings.require_2fa_for_admins:
        _note(
            f"{username} must turn on two-factor (Account page) before the admin pages "
            "let them in (AUTHFLOW_REQUIRE_2FA_FOR_ADMINS)."
        )


# Accounts


async def _create_admin(settings: Settings, args: argparse.Namespace) -> None:
    username, email = args.username, args.email
    async with _transaction(settings) as session:
        try:
            user = await user_service.create(
                session,
                username=username,
                password=args.password,
                email=email,
                full_name=args.full_name,
                settings=settings,
                hasher=_hasher(settings),
            )
        except AppError as exc:
            if exc.code is ErrorCode.USERNAME_TAKEN:
                existing = await _find_user(session, username)
                if existing.is_superuser:
                    raise CommandError(
                        f"{existing.username} already exists and is an admin"
                    ) from None
                raise CommandError(
                    f"{existing.username} already exists; to make it an admin: "
                    f"authflow grant-admin {existing.username}"
                ) from None
            if exc.code is ErrorCode.EMAIL_TAKEN:
                raise CommandError(f"another account already uses {email}") from None
            raise
        # Created by the operator, who vouches for the address: no confirmation email.
        user.is_verified = True
        user.is_superuser = True
        await session.flush()
        await audit.record(session, EventKind.signup, user_id=user.id, detail=COMMAND_LINE.detail())
        await audit.record(
            session, EventKind.admin_role_granted, user_id=user.id, detail=COMMAND_LINE.detail()
        )
    print(f"created admin {user.username} <{user.email}>")
    _admin_hint(settings, user.username)


async def _set_admin(settings: Settings, args: argparse.Namespace) -> None:
    admin = args.command == "grant-admin"
    async with _transaction(settings) as session:
        user = await _find_user(session, args.login)
        if user.is_superuser == admin:
            print(f"{user.username} {'is already' if admin else 'was not'} an admin")
            return
        await admin_service.set_admin(
            session, user_id=user.id, admin=admin, actor=COMMAND_LINE, client=None
        )
    print(f"{user.username} {'is now' if admin else 'is no longer'} an admin")
    if admin:
        _admin_hint(settings, user.username)


async def _set_password(settings: Settings, args: argparse.Namespace) -> None:
    async with _transaction(settings) as session:
        user = await _find_user(session, args.login)
        await admin_service.set_password(
            session,
            user_id=user.id,
            password=args.password,
            hasher=_hasher(settings),
            settings=settings,
            actor=COMMAND_LINE,
            client=None,
        )
    print(f"password of {user.username} changed; all their sessions have ended")


async def _set_active(settings: Settings, args: argparse.Namespace) -> None:
    active = args.command == "enable-user"
    async with _transaction(settings) as session:
        user = await _find_user(session, args.login)
        await admin_service.set_active(
            session, user_id=user.id, active=active, actor=COMMAND_LINE, client=None
        )
    if active:
        print(f"{user.username} {'was already' if user.is_active else 'is'} enabled")
    else:
        state = "is disabled" if user.is_active else "was already disabled"
        print(f"{user.username} {state}; all their sessions have ended")


# Hashing


async def _calibrate_hashing(settings: Settings, args: argparse.Namespace) -> None:
    def report(tried: passwords.Calibration) -> None:
        p = tried.parameters
        _note(
            f"  m={p.memory_kib} KiB, t={p.time_cost}, p={p.parallelism}: "
            f"{tried.milliseconds:.0f} ms"
        )

    _note(f"measuring Argon2id on this machine (target {args.target_ms} ms):")
    found = passwords.calibrate(args.target_ms, max_memory_mib=args.max_memory_mib, report=report)
    p = found.parameters
    if found.milliseconds > args.target_ms * (1 + passwords.CALIBRATION_TOLERANCE) and (
        p == passwords.Argon2Parameters()
    ):
        _note("the OWASP baseline already takes longer than that; it is the least allowed")
    _note(
        f"one hash takes about {found.milliseconds:.0f} ms and {p.memory_kib // 1024} MiB; "
        f"{settings.hash_concurrency} at once (AUTHFLOW_HASH_CONCURRENCY) need "
        f"{settings.hash_concurrency * p.memory_kib // 1024} MiB. Set:"
    )
    print(f"AUTHFLOW_ARGON2_MEMORY_KIB={p.memory_kib}")
    print(f"AUTHFLOW_ARGON2_TIME_COST={p.time_cost}")
    print(f"AUTHFLOW_ARGON2_PARALLELISM={p.parallelism}")


# Import


async def _import_users(settings: Settings, args: argparse.Namespace) -> None:
    source = importer.source_engine(args.from_database)
    target = create_engine(settings)
    label = "would import" if args.dry_run else "imported"

    def progress(report: importer.ImportReport) -> None:
        skipped = sum(report.skipped.values())
        _note(f"  {report.read} rows read: {report.imported} {label}, {skipped} skipped")

    _note(
        f"reading table {args.table} of {importer.describe_url(args.from_database)}"
        + (" (dry run: nothing is written)" if args.dry_run else "")
    )
    try:
        report = await importer.import_users(
            source,
            target,
            table=args.table,
            batch_size=args.batch_size,
            dry_run=args.dry_run,
            progress=progress,
        )
    finally:
        await source.dispose()
        await target.dispose()
    skipped = sum(report.skipped.values())
    print(f"{label} {report.imported} of {report.read} users; skipped {skipped}")
    for reason, count in report.skipped.most_common():
        print(f"  {count:>8}  {reason.value}")


# Purge


async def _purge(settings: Settings, args: argparse.Namespace) -> None:
    engine = create_engine(settings)

    def progress(table: str, rows: int) -> None:
        _note(f"  {table}: {rows} rows deleted so far")

    try:
        purged = await purge_module.purge(
            engine, settings=settings, now=utc_now(), dry_run=args.dry_run, progress=progress
        )
    finally:
        await engine.dispose()
    print("would delete (dry run):" if args.dry_run else "deleted:")
    width = max(len(p.table) for p in purged)
    for p in purged:
        print(f"  {p.table:<{width}} {p.rows:>9}  {p.what}")


async def _rotate_keys(settings: Settings, args: argparse.Namespace) -> None:
    engine = create_engine(settings)
    try:
        rotation = await signing_key_service.rotate(
            engine, secret=load_secret(settings), settings=settings, now=utc_now()
        )
    finally:
        await engine.dispose()
    print(f"new signing key: {rotation.new_kid}")
    for kid in rotation.retired_kids:
        print(
            f"retired key:     {kid} (still accepted and published until "
            f"{rotation.published_until:%Y-%m-%d %H:%M:%S} UTC)"
        )
    print(
        f"API processes sign with the new key within {settings.key_reload_seconds} s "
        "(AUTHFLOW_KEY_RELOAD_SECONDS); nobody is signed out."
    )


def _checked(adapter: TypeAdapter[Any], what: str) -> Callable[[str], Any]:
    """An argparse type that applies the API's own validation to an argument."""

    def check(value: str) -> Any:
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(_first_problem(exc)) from None

    check.__name__ = what  # argparse names the type in its "invalid ... value" message
    return check


def _table_name(value: str) -> str:
    try:
        importer.quoted_table_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"table name {exc}") from None
    return value


def _whole(low: int, high: int) -> Callable[[str], int]:
    def check(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a whole number from {low} to {high}"
            )
        return number

    return check


def _memory_mib(value: str) -> int:
    return _whole(-(-ARGON2_MEMORY_KIB // 1024), ARGON2_MAX_MEMORY_KIB // 1024)(value)


class _RefusePassword(argparse.Action):
    """``--password X``: refused without echoing X, and saying what to do instead."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs="?", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        parser.error(
            "passwords are never taken as arguments (shell history and ps would show "
            "them): answer the prompt, or use --password-stdin"
        )


PASSWORD_HELP = (
    "read the password from the first line of standard input instead of prompting "
    "(for scripts: printf '%%s\\n' \"$PASSWORD\" | authflow ...)"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authflow",
        description="Operate an Authflow deployment. Reads AUTHFLOW_* settings and "
        "DATABASE_URL (default: the embedded development database). Exit codes: 0 done, "
        "1 failed, 2 bad usage or settings.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Handler, *, database: bool = True, password: bool = False, **kw: Any
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, **kw)
        sub.set_defaults(handler=handler, needs_database=database, needs_password=password)
        if password:
            sub.add_argument("--password-stdin", action="store_true", help=PASSWORD_HELP)
            sub.add_argument("--password", action=_RefusePassword, help=argparse.SUPPRESS)
        return sub

    command(
        "rotate-keys",
        _rotate_keys,
        help="add a new access-token signing key and retire the current one",
        description="Add a new signing key; API processes switch to it within "
        "AUTHFLOW_KEY_RELOAD_SECONDS. Tokens signed with the previous key keep working until "
        "they expire, and the JWKS lists both keys until then, so nobody is signed out.",
    )

    create = command(
        "create-admin",
        _create_admin,
        password=True,
        help="create an administrator account",
        description="Create an active admin whose email address counts as confirmed. The "
        "password is asked for twice (not echoed), or read with --password-stdin; the "
        "password policy applies. An existing account is never changed: make one an admin "
        "with grant-admin.",
    )
    create.add_argument("username", metavar="USERNAME", type=_checked(_username, "username"))
    create.add_argument(
        "--email", required=True, metavar="EMAIL", type=_checked(_email, "email address")
    )
    create.add_argument("--full-name", metavar="NAME", type=_checked(_full_name, "full name"))

    for name, verb in (("grant-admin", "make"), ("revoke-admin", "stop")):
        sub = command(
            name,
            _set_admin,
            help=f"{verb} an existing account {'an' if verb == 'make' else 'being an'} admin",
            description="Recorded in the audit trail. The last active admin cannot be demoted."
            if name == "revoke-admin"
            else "Recorded in the audit trail.",
        )
        sub.add_argument("login", metavar="USERNAME_OR_EMAIL")

    password = command(
        "set-password",
        _set_password,
        password=True,
        help="set an account's password and end its sessions",
        description="Set a new password (asked for twice, or read with --password-stdin; "
        "the password policy applies). Every session of the account ends, the owner gets "
        "the usual 'password changed' email, and the audit trail records it.",
    )
    password.add_argument("login", metavar="USERNAME_OR_EMAIL")

    for name, what in (
        ("disable-user", "disable an account: it cannot sign in and every session ends now"),
        ("enable-user", "let a disabled account sign in again"),
    ):
        sub = command(
            name,
            _set_active,
            help=what,
            description=what[0].upper()
            + what[1:]
            + ". Recorded in the audit trail."
            + (" The last active admin cannot be disabled." if name == "disable-user" else ""),
        )
        sub.add_argument("login", metavar="USERNAME_OR_EMAIL")

    calibrate = command(
        "calibrate-hashing",
        _calibrate_hashing,
        database=False,
        help="find Argon2id parameters that take about N ms on this machine",
        description="Measure Argon2id here and print the AUTHFLOW_ARGON2_* settings whose "
        "hash takes about --target-ms, never below the OWASP baseline (m=19456 KiB, t=2, "
        "p=1). Memory grows first, up to --max-memory-mib, then the time cost; parallelism "
        "stays 1. Run it on the machine (or one like it) that serves the API. Existing "
        "hashes are upgraded as their owners sign in.",
    )
    calibrate.add_argument(
        "--target-ms",
        required=True,
        type=_whole(1, MAX_TARGET_MS),
        metavar="N",
        help=f"time per hash (at most {MAX_TARGET_MS})",
    )
    calibrate.add_argument(
        "--max-memory-mib",
        type=_memory_mib,
        default=64,
        metavar="M",
        help="memory per hash at most (default 64, at least 19, the OWASP baseline); each "
        "of AUTHFLOW_HASH_CONCURRENCY hashes at once takes this much",
    )

    import_users = command(
        "import-users",
        _import_users,
        help="copy accounts (bcrypt hashes kept) from another PostgreSQL database",
        description="Read username, hashed_password and, when present, email, full_name "
        "and disabled from a table shaped like the FastAPI tutorial's, and create those "
        "accounts. bcrypt hashes are kept as they are; each becomes Argon2id at its owner's "
        "first sign-in. Rows whose username or email address is already in use, that are "
        "not valid here, or whose hash is not bcrypt are skipped and counted; nothing is "
        "ever overwritten. Each batch is committed on its own: after an interruption, run "
        "it again.",
    )
    import_users.add_argument(
        "--from-database", required=True, metavar="URL", help="postgresql://user:pass@host/db"
    )
    import_users.add_argument(
        "--table", default="users", type=_table_name, help="table to read (default users)"
    )
    import_users.add_argument(
        "--dry-run", action="store_true", help="check and count everything, write nothing"
    )
    import_users.add_argument(
        "--batch-size",
        type=_whole(1, 10_000),
        default=1000,
        metavar="N",
        help="rows per transaction and per progress line (default 1000)",
    )

    purge = command(
        "purge",
        _purge,
        help="delete expired sessions, tokens, counters, sent email and old audit events",
        description="Delete what has served its purpose: sessions "
        f"{purge_module.SESSION_GRACE.days} days after they ended (their spent refresh "
        "tokens as soon as they ended), email links "
        f"{purge_module.EMAIL_TOKEN_GRACE.days} days after they expired or were used, "
        "expired or used two-factor challenges, expired throttle counters, email sent more "
        f"than {purge_module.SENT_EMAIL_KEPT.days} days ago (given up on: "
        f"{purge_module.DEAD_EMAIL_KEPT.days} days), devices not signed in from for "
        f"{purge_module.DEVICE_UNUSED.days} days, and audit events older than "
        "AUTHFLOW_AUDIT_RETENTION_DAYS. Safe while the API serves; run it daily.",
    )
    purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]) for e in exc.errors())
        print(f"authflow: invalid settings: {problems}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.needs_password:
            # Asked before any database work, so nothing waits on the operator's typing.
            args.password = _read_password(args)
            if args.command == "create-admin":
                require_acceptable_password(
                    args.password, settings=settings, username=args.username, email=args.email
                )
        _run(settings, args.handler, args)
    except (
        CommandError,
        AppError,
        importer.ImportSourceError,
        signing_key_service.SigningKeyUnreadable,
    ) as exc:
        message = exc.detail if isinstance(exc, AppError) else str(exc)
        print(f"authflow {args.command}: {message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        # What was committed stays (import-users commits batch by batch).
        print(f"\nauthflow {args.command}: interrupted", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``authflow`` command line, for operators.

Reads the same settings as the API (``AUTHFLOW_*``, ``DATABASE_URL``). Without
``DATABASE_URL`` it uses the embedded development database under var/postgres: the running
one if ``bin/dev`` has it up, else it starts it for the command and stops it after.

Exit codes: 0 done, 1 the command failed (database unreachable, not migrated, ...),
2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from authflow import devdb
from authflow.config import REPO_ROOT, Settings
from authflow.db import create_engine
from authflow.errors import is_database_unavailable
from authflow.kit.clock import utc_now
from authflow.main import load_secret
from authflow.signing_key import service as signing_key_service

DEV_PGDATA = REPO_ROOT / "var" / "postgres"

EXIT_FAILED = 1
EXIT_USAGE = 2


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


def _run(settings: Settings, command: Callable[[Settings], Coroutine[Any, Any, None]]) -> None:
    try:
        with _database(settings) as ready:
            asyncio.run(command(ready))
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


async def _rotate_keys(settings: Settings) -> None:
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="authflow",
        description="Operate an Authflow deployment. Reads AUTHFLOW_* settings and "
        "DATABASE_URL (default: the embedded development database).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    rotate = commands.add_parser(
        "rotate-keys",
        help="add a new access-token signing key and retire the current one",
        description="Add a new signing key; API processes switch to it within "
        "AUTHFLOW_KEY_RELOAD_SECONDS. Tokens signed with the previous key keep working until "
        "they expire, and the JWKS lists both keys until then, so nobody is signed out.",
    )
    rotate.set_defaults(handler=_rotate_keys)
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
        _run(settings, args.handler)
    except (CommandError, signing_key_service.SigningKeyUnreadable) as exc:
        print(f"authflow {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())

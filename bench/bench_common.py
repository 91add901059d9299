"""Pieces both benchmarks use (bench/run and bench/admin-search): a throwaway PostgreSQL
and the lock that keeps two benchmarks from sharing one machine's cores."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "var" / "bench.lock"


class Postgres:
    """A cluster under ``pgdata``, stopped and removed after; its log is kept as
    ``log_copy`` (the results folder is git-ignored for *.raw)."""

    def __init__(
        self, devdb: Any, pgdata: Path, log_copy: Path, log: Callable[[str], None]
    ) -> None:
        self.devdb = devdb
        self.pgdata = pgdata
        self.log_copy = log_copy
        self.log = log
        self.port = 0
        self.pid: int | None = None

    def start(self) -> str:
        self.discard()  # a leftover from a run that was killed -9
        self.port = self.devdb.free_port()
        # Durable settings (fsync on): the measured requests commit.
        self.devdb.init_cluster(self.pgdata, fast_unsafe=False)
        self.devdb.start(self.pgdata, self.port)
        self.pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        return str(self.devdb.url(self.port))

    def discard(self) -> None:
        pidfile = self.pgdata / "postmaster.pid"
        if pidfile.exists():
            pid = int(pidfile.read_text().split()[0])
            with contextlib.suppress(Exception):
                self.devdb.stop(self.pgdata)
            _kill_if_alive(pid)
        if self.pgdata.exists():
            server_log = self.pgdata / "server.log"
            if server_log.exists():
                self.log_copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(server_log, self.log_copy)
            shutil.rmtree(self.pgdata)

    def stop(self) -> None:
        if self.pid is not None:
            self.log(f"stopping PostgreSQL (pid {self.pid})")
        self.discard()
        self.pid = None


def _kill_if_alive(pid: int) -> None:
    # pg_ctl stop normally suffices; if not, fast shutdown then quit, by PID.
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@contextlib.contextmanager
def single_run_lock(name: str) -> Iterator[None]:
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(
                f"{name}: another benchmark (bench/run or bench/admin-search) is running "
                "in this checkout"
            ) from None
        yield

"""A real Redis server on 127.0.0.1 for the Redis store, started and stopped by PID."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow import devdb
from authflow.config import REPO_ROOT
from authflow.db import autocommit
from authflow.throttle.store import PostgresThrottleStore, RedisThrottleStore, ThrottleStore

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    port = devdb.free_port()
    workdir = REPO_ROOT / "var" / f"test-redis-{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # noqa: S603 (a fixed command line)
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(params=["postgres", "redis"])
async def store(
    request: pytest.FixtureRequest, engine: AsyncEngine, redis_url: str
) -> AsyncIterator[ThrottleStore]:
    if request.param == "postgres":
        chosen: ThrottleStore = PostgresThrottleStore(autocommit(engine))
    else:
        wipe = Redis.from_url(redis_url)
        await wipe.flushdb()
        await wipe.aclose()
        chosen = RedisThrottleStore.from_url(redis_url)
    yield chosen
    await chosen.close()

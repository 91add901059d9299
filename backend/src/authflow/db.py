"""Engine and per-request session. The engine lives on app state, never at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import ColumnElement, Executable, Table, delete, select, tuple_
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from authflow.config import Settings


def create_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.async_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        # No pre-ping: it costs a round trip on every checkout. A connection that died
        # with the server fails one request (503) and invalidates the pool, so the next
        # request reconnects.
        pool_timeout=settings.db_connect_timeout_seconds,
        connect_args={
            "timeout": settings.db_connect_timeout_seconds,
            "command_timeout": settings.db_command_timeout_seconds,
        },
        # Errors name the statement but not its values (emails, hashes): the 503 and 500
        # paths log the exception.
        hide_parameters=True,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, for single-statement work such as the per-request auth lookup:
    without a transaction there is no BEGIN and no COMMIT, so one query is one round trip."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def delete_in_chunks(
    engine: AsyncEngine,
    table: Table,
    condition: ColumnElement[bool],
    *,
    chunk: int,
    setup: Sequence[Executable] = (),
    progress: Callable[[int], None] = lambda _rows: None,
) -> int:
    """Delete ``table``'s rows matching ``condition``, ``chunk`` at a time, each chunk in a
    short transaction of its own (after the ``setup`` statements): a backlog never holds
    locks for long nor becomes one statement that outlasts the command timeout. Every
    chunk re-checks the condition on the rows it deletes. Returns the rows deleted;
    ``progress`` hears the running total after each full chunk."""
    key = tuple_(*table.primary_key.columns)
    batch = select(*table.primary_key.columns).where(condition).limit(chunk)
    total = 0
    while True:
        async with engine.begin() as conn:
            for statement in setup:
                await conn.execute(statement)
            result = await conn.execute(delete(table).where(condition, key.in_(batch)))
        total += result.rowcount
        if result.rowcount < chunk:
            return total
        progress(total)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back on error.

    Services never commit; they flush where they need a constraint checked so the
    violation becomes a clear error instead of failing at commit time.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

"""The ASGI application: ``create_app(settings)``; nothing connects at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.account.router import router as account_router
from authflow.auth.router import router as auth_router
from authflow.auth.router import token_router
from authflow.body_limit import BodySizeLimitMiddleware
from authflow.config import Settings
from authflow.db import autocommit, create_engine, create_sessionmaker
from authflow.email.backends import backend_for
from authflow.email.router import router as email_router
from authflow.email.worker import OutboxWorker
from authflow.errors import install_error_handlers, is_database_unavailable
from authflow.kit import password_policy
from authflow.kit.clock import utc_now
from authflow.kit.deferred import Deferred
from authflow.kit.jwt import KeyRing, KeySet
from authflow.kit.passwords import PasswordHasher
from authflow.kit.server_secret import ServerSecret, load_or_create_dev_secret
from authflow.note.router import router as note_router
from authflow.origin_check import OriginCheckMiddleware
from authflow.signing_key import service as signing_key_service
from authflow.system.router import router as system_router
from authflow.user.router import router as user_router
from authflow.user.router import tutorial_router
from authflow.user_session.router import router as user_session_router

logger = logging.getLogger(__name__)


def _operation_id(route: APIRoute) -> str:
    # Stable, readable names for the generated TypeScript client.
    return route.name


def load_secret(settings: Settings) -> ServerSecret:
    if settings.secret_key is not None:
        return ServerSecret(settings.secret_key.get_secret_value())
    return load_or_create_dev_secret(settings.keys_dir)


def key_ring(
    settings: Settings, secret: ServerSecret, engine: Callable[[], AsyncEngine]
) -> KeyRing:
    async def load() -> KeySet:
        return await signing_key_service.load_keyset(
            engine(), secret=secret, settings=settings, now=utc_now()
        )

    return KeyRing(
        issuer=settings.jwt_issuer, audience=settings.jwt_audience, load=load, secret=secret
    )


async def _load_keys_at_start(keys: KeyRing) -> None:
    try:
        await keys.reload()
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        # Serve anyway: the ring loads on first use, and until the database is back
        # every route that needs it answers 503 like the rest.
        logger.warning("database unreachable at start; signing keys will load on first use")


async def _reload_keys_periodically(keys: KeyRing, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await keys.reload()
        except Exception:
            # Keep the keys we have; the next round (or an unknown kid) tries again.
            logger.warning("reloading signing keys failed", exc_info=True)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.autocommit_engine = autocommit(engine)
        password_policy.warm_up()
        await _load_keys_at_start(app.state.keys)
        tasks = [
            asyncio.create_task(
                _reload_keys_periodically(app.state.keys, settings.key_reload_seconds)
            )
        ]
        if settings.outbox_worker:
            worker = OutboxWorker(engine, backend_for(settings), settings)
            tasks.append(asyncio.create_task(worker.run()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.deferred.drain()
            await engine.dispose()

    app = FastAPI(
        title="Authflow API",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        redirect_slashes=False,
    )
    app.state.settings = settings
    # The ring reads the keys through the engine the lifespan makes.
    app.state.keys = key_ring(settings, load_secret(settings), lambda: app.state.engine)
    app.state.hasher = PasswordHasher(settings.hash_concurrency)
    app.state.deferred = Deferred()
    install_error_handlers(app)
    app.add_middleware(OriginCheckMiddleware, web_origin=settings.web_origin)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if "env" not in settings.model_fields_set:
        logger.warning(
            "AUTHFLOW_ENV is not set: running in development mode (generated signing key, "
            "no https check). Set AUTHFLOW_ENV=production for a real deployment."
        )

    app.include_router(token_router)
    app.include_router(tutorial_router)
    app.include_router(auth_router)
    app.include_router(email_router)
    app.include_router(account_router)
    app.include_router(user_router)
    app.include_router(note_router)
    app.include_router(user_session_router)
    app.include_router(system_router)
    return app

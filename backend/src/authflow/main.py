"""The ASGI application: ``create_app(settings)``; nothing connects at import time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow import logs
from authflow.access_log import AccessLogMiddleware
from authflow.account.router import router as account_router
from authflow.admin.router import router as admin_router
from authflow.api_docs import install_docs
from authflow.audit import service as audit_service
from authflow.audit.router import router as audit_router
from authflow.audit.service import EventKind
from authflow.auth.router import router as auth_router
from authflow.auth.router import token_router
from authflow.auth.service import ClientInfo
from authflow.body_limit import BodySizeLimitMiddleware
from authflow.config import Environment, Settings
from authflow.db import autocommit, create_engine, create_sessionmaker
from authflow.dev_mailbox.router import router as dev_mailbox_router
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
from authflow.security_headers import SecurityHeadersMiddleware
from authflow.signing_key import service as signing_key_service
from authflow.system.router import router as system_router
from authflow.throttle.service import Throttle
from authflow.throttle.store import PostgresThrottleStore, RedisThrottleStore, ThrottleStore
from authflow.two_factor.router import router as two_factor_router
from authflow.user.router import router as user_router
from authflow.user.router import tutorial_router
from authflow.user_session.router import router as user_session_router

logger = logging.getLogger(__name__)
# Expired counters mean nothing; deleting them now and then keeps the table small.
THROTTLE_PURGE_SECONDS = 600
AUDIT_PURGE_SECONDS = 3600


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


def _throttle_store(settings: Settings, engine: AsyncEngine) -> ThrottleStore:
    if settings.redis_url:
        return RedisThrottleStore.from_url(settings.redis_url)
    return PostgresThrottleStore(engine)


def _audit_refusal(engine: AsyncEngine) -> Callable[[str, str | None], Awaitable[None]]:
    async def refused(action: str, ip: str | None) -> None:
        await audit_service.record_standalone(
            engine,
            EventKind.throttled,
            client=ClientInfo(user_agent=None, ip=ip),
            detail={"action": action},
        )

    return refused


async def _purge_throttle_periodically(store: ThrottleStore) -> None:
    while True:
        await asyncio.sleep(THROTTLE_PURGE_SECONDS)
        try:
            await store.purge(now=utc_now())
        except Exception:
            logger.warning("purging throttle counters failed", exc_info=True)


async def _purge_audit_periodically(engine: AsyncEngine, settings: Settings) -> None:
    # Not at start-up: every process would delete at once, and a start without the
    # database would log a failure before anything else.
    while True:
        await asyncio.sleep(AUDIT_PURGE_SECONDS)
        try:
            await audit_service.purge(
                engine, older_than=timedelta(days=settings.audit_retention_days), now=utc_now()
            )
        except Exception:
            logger.warning("purging old audit events failed", exc_info=True)


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the background tasks and wait for them. A cancellation can get lost on the
    way (one landing as a database round trip completes is swallowed below us, seen with
    the outbox worker's poll), and the task then runs on: cancel again until all are done."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1)
    for task in tasks:
        if not task.cancelled() and (exc := task.exception()) is not None:
            raise exc


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Here rather than in the lifespan so that uvicorn's start-up lines are ours already.
    logs.configure(settings)

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
        app.state.throttle = Throttle(
            _throttle_store(settings, app.state.autocommit_engine),
            settings,
            on_refused=_audit_refusal(app.state.autocommit_engine),
        )
        tasks.append(asyncio.create_task(_purge_throttle_periodically(app.state.throttle.store)))
        tasks.append(asyncio.create_task(_purge_audit_periodically(engine, settings)))
        if settings.outbox_worker:
            worker = OutboxWorker(engine, backend_for(settings), settings)
            tasks.append(asyncio.create_task(worker.run()))
        try:
            yield
        finally:
            await _stop(tasks)
            await app.state.deferred.drain()
            await app.state.throttle.store.close()
            await engine.dispose()

    app = FastAPI(
        title="Authflow API",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        redirect_slashes=False,
        # Our own routes for these, with a CSP each page can live with (authflow.api_docs).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    # The ring reads the keys through the engine the lifespan makes.
    app.state.keys = key_ring(settings, load_secret(settings), lambda: app.state.engine)
    app.state.hasher = PasswordHasher(settings.hash_concurrency, settings.argon2)
    app.state.deferred = Deferred()
    install_error_handlers(app)
    app.add_middleware(OriginCheckMiddleware, web_origin=settings.web_origin)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Added last, so outermost: every response above (413, 403, a 500) gets an id and the
    # headers, and the access log times the whole request.
    app.add_middleware(AccessLogMiddleware, trusted_proxies=settings.trusted_proxies)
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts=settings.env not in (Environment.development, Environment.test),
    )
    install_docs(app)
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
    app.include_router(two_factor_router)
    app.include_router(admin_router)
    app.include_router(user_router)
    app.include_router(note_router)
    app.include_router(user_session_router)
    app.include_router(audit_router)
    app.include_router(system_router)
    if settings.is_dev and "env" in settings.model_fields_set:
        # Unauthenticated and shows every link ever sent (see its module): only where
        # development was asked for, never in a deployment that forgot AUTHFLOW_ENV.
        app.include_router(dev_mailbox_router)
    return app

"""The ASGI application: ``create_app(settings)``; nothing connects at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from authflow.auth.router import router as auth_router
from authflow.auth.router import token_router
from authflow.body_limit import BodySizeLimitMiddleware
from authflow.config import Settings
from authflow.db import autocommit, create_engine, create_sessionmaker
from authflow.errors import install_error_handlers
from authflow.kit import password_policy
from authflow.kit.jwt import KeyRing, SigningKey, load_or_create_dev_key
from authflow.kit.passwords import PasswordHasher
from authflow.note.router import router as note_router
from authflow.origin_check import OriginCheckMiddleware
from authflow.system.router import router as system_router
from authflow.user.router import router as user_router
from authflow.user.router import tutorial_router
from authflow.user_session.router import router as user_session_router

logger = logging.getLogger(__name__)


def _operation_id(route: APIRoute) -> str:
    # Stable, readable names for the generated TypeScript client.
    return route.name


def load_keys(settings: Settings) -> KeyRing:
    if settings.jwt_private_key:
        signing = SigningKey.from_pem(settings.jwt_private_key)
    else:
        signing = load_or_create_dev_key(settings.keys_dir)
    return KeyRing(signing, issuer=settings.jwt_issuer, audience=settings.jwt_audience)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.autocommit_engine = autocommit(engine)
        password_policy.warm_up()
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="Authflow API",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        redirect_slashes=False,
    )
    app.state.settings = settings
    # Keys and hasher are ready before the first request, with or without lifespan.
    app.state.keys = load_keys(settings)
    app.state.hasher = PasswordHasher(settings.hash_concurrency)
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
    app.include_router(user_router)
    app.include_router(note_router)
    app.include_router(user_session_router)
    app.include_router(system_router)
    return app

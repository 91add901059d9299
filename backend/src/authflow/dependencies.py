"""Process-wide objects built in the lifespan, handed to handlers as dependencies.

Dependencies are ``async def`` even when they do not await: FastAPI runs a plain ``def``
dependency in the thread pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authflow.config import Settings
from authflow.kit.deferred import Deferred
from authflow.kit.jwt import KeyRing
from authflow.kit.passwords import PasswordHasher
from authflow.throttle.service import Throttle


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.hasher
    return hasher


async def get_autocommit_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.autocommit_engine
    return engine


async def get_keys(request: Request) -> KeyRing:
    keys: KeyRing = request.app.state.keys
    return keys


async def get_deferred(request: Request) -> Deferred:
    deferred: Deferred = request.app.state.deferred
    return deferred


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


async def get_throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.throttle
    return throttle


SettingsDep = Annotated[Settings, Depends(get_settings)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]
KeysDep = Annotated[KeyRing, Depends(get_keys)]
# Single statements outside the request's transaction (see authflow.db.autocommit).
AutocommitEngineDep = Annotated[AsyncEngine, Depends(get_autocommit_engine)]
DeferredDep = Annotated[Deferred, Depends(get_deferred)]
# For work that opens its own transactions (deferred work runs after the request's is over).
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
ThrottleDep = Annotated[Throttle, Depends(get_throttle)]

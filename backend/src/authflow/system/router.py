"""Liveness, readiness and the public keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from authflow.dependencies import KeysDep
from authflow.errors import ErrorCode, ErrorResponse, error_json

router = APIRouter(tags=["system"])


@router.get("/api/health")
async def health() -> dict[str, str]:
    """No auth, no database: the process is up. Also the benchmarks' bare endpoint."""
    return {"status": "ok"}


@router.get("/api/ready", responses={503: {"model": ErrorResponse}})
async def ready(request: Request) -> Any:
    """The database answers."""
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return error_json(ErrorCode.DATABASE_UNAVAILABLE, "Database unavailable", 503)
    return {"status": "ready"}


@router.get("/.well-known/jwks.json")
async def jwks(keys: KeysDep, response: Response) -> dict[str, Any]:
    """Public keys for verifying access tokens offline (RFC 7517)."""
    await keys.ensure_loaded()
    response.headers["Cache-Control"] = "public, max-age=300"
    return keys.jwks()

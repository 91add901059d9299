"""A user's own recent activity, from the audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from authflow.audit import service as audit_service
from authflow.audit.schemas import ActivityPage, ActivityRead
from authflow.auth.dependencies import CurrentUser
from authflow.db import SessionDep
from authflow.errors import ErrorResponse
from authflow.kit.user_agent import describe

router = APIRouter(prefix="/api/me", tags=["activity"])


@router.get(
    "/activity",
    response_model=ActivityPage,
    responses={401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
async def my_activity(
    current_user: CurrentUser,
    session: SessionDep,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ActivityPage:
    """Security events of the signed-in user's account, newest first. Only ever the
    caller's own; what the server knows beyond kind, time and client stays there."""
    rows = await audit_service.for_user(
        session, user_id=current_user.id, before=before, limit=limit + 1
    )
    page = rows[:limit]
    events = []
    for row in page:
        browser, device = describe(row.user_agent)
        events.append(
            ActivityRead(
                id=row.id,
                kind=row.kind,
                occurred_at=row.occurred_at,
                ip=row.ip,
                browser=browser,
                device=device,
                this_session=row.session_id == current_user.session_id,
            )
        )
    return ActivityPage(events=events, next_before=page[-1].id if len(rows) > limit else None)

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from authflow.audit import service as audit
from authflow.audit.service import EventKind
from authflow.auth.dependencies import ClientInfoDep, CurrentUser, RecentUser
from authflow.db import SessionDep
from authflow.errors import ErrorResponse
from authflow.user_session.schemas import RevokedCount, SessionRead
from authflow.user_session.service import user_session as user_session_service

router = APIRouter(
    prefix="/api/sessions",
    tags=["sessions"],
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)


@router.get("", response_model=list[SessionRead])
async def list_sessions(current_user: CurrentUser, session: SessionDep) -> list[SessionRead]:
    """Where you're signed in: every live session, this one first."""
    return await user_session_service.list_live(
        session, user_id=current_user.id, current_id=current_user.session_id
    )


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
async def revoke_session(
    session_id: uuid.UUID, current_user: CurrentUser, session: SessionDep, client: ClientInfoDep
) -> Response:
    """Sign out one session (this one included); it stops working on its next request."""
    await user_session_service.revoke(session, user_id=current_user.id, session_id=session_id)
    await audit.record(
        session,
        EventKind.session_revoked,
        user_id=current_user.id,
        session_id=current_user.session_id,
        client=client,
        detail={"revoked": str(session_id)},
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/revoke-others", response_model=RevokedCount)
async def revoke_other_sessions(
    current_user: RecentUser, session: SessionDep, client: ClientInfoDep
) -> RevokedCount:
    """Sign out everywhere else. Needs a recent sign-in or step-up, so a stolen session
    cannot lock its owner out."""
    revoked = await user_session_service.revoke_others(
        session, user_id=current_user.id, current_id=current_user.session_id
    )
    await audit.record(
        session,
        EventKind.session_revoked,
        user_id=current_user.id,
        session_id=current_user.session_id,
        client=client,
        detail={"revoked": "others", "count": revoked},
    )
    return RevokedCount(revoked=revoked)

"""The admin API. Every route wants an admin with two-factor and a recent authentication
(``AdminUser``); anyone else gets the 404 an unknown route gets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from authflow.admin import service as admin_service
from authflow.admin.schemas import (
    AdminEventPage,
    AdminEventRow,
    AdminSessionRow,
    AdminUserDetail,
    AdminUserPage,
    AdminUserRow,
)
from authflow.admin.service import Actor, EventFilters, Order, UserFilters, UserSort
from authflow.auth.dependencies import AdminUser, ClientInfoDep
from authflow.auth.service import AuthUser
from authflow.db import SessionDep
from authflow.dependencies import SettingsDep
from authflow.errors import ErrorResponse
from authflow.kit.strings import LineStr
from authflow.user_session.schemas import RevokedCount
from authflow.user_session.service import user_session as user_session_service

router = APIRouter(
    prefix="/api/admin",
    tags=["admin"],
    responses={
        401: {"model": ErrorResponse},
        403: {
            "model": ErrorResponse,
            "description": "STEP_UP_REQUIRED, TWO_FACTOR_ENROLMENT_REQUIRED or CSRF",
        },
        404: {"model": ErrorResponse, "description": "not an admin, or USER_NOT_FOUND"},
        422: {"model": ErrorResponse},
    },
)
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": ErrorResponse}}


def _actor(admin: AuthUser) -> Actor:
    return Actor(id=admin.id, username=admin.username, session_id=admin.session_id)


def _event(row: Any) -> AdminEventRow:
    return AdminEventRow(
        id=row.id,
        occurred_at=row.occurred_at,
        kind=row.kind,
        user_id=row.user_id,
        username=row.username,
        session_id=row.session_id,
        ip=row.ip,
        user_agent=row.user_agent,
        detail=row.detail,
    )


@router.get("/users", response_model=AdminUserPage)
async def admin_list_users(
    admin: AdminUser,
    session: SessionDep,
    q: Annotated[
        LineStr | None, Query(max_length=320, description="Start of username or email")
    ] = None,
    active: bool | None = None,
    verified: bool | None = None,
    is_admin: Annotated[bool | None, Query(alias="admin")] = None,
    two_factor: bool | None = None,
    sort: UserSort = UserSort.created_at,
    order: Order = Order.desc,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> AdminUserPage:
    """Accounts, newest first by default; filter, search by the start of a username or
    email (case-insensitive), and page on with ``next_cursor``."""
    rows, next_cursor = await admin_service.list_users(
        session,
        filters=UserFilters(
            q=q, active=active, verified=verified, admin=is_admin, two_factor=two_factor
        ),
        sort=sort,
        order=order,
        limit=limit,
        cursor=cursor,
    )
    return AdminUserPage(
        items=[AdminUserRow.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )


@router.get("/users/{user_id}", response_model=AdminUserDetail)
async def admin_get_user(
    user_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> AdminUserDetail:
    """One account: profile, live sessions and its 20 newest events."""
    user = await admin_service.get_user(session, user_id)
    # The account owner's own list, without the owner's view ("current", "remember me").
    live = await user_session_service.list_live(session, user_id=user_id, current_id=None)
    sessions = [AdminSessionRow.model_validate(row, from_attributes=True) for row in live]
    events, _ = await admin_service.search_events(
        session, filters=EventFilters(user_id=user_id), limit=20, before=None
    )
    return AdminUserDetail(
        user=AdminUserRow.model_validate(user, from_attributes=True),
        sessions=sessions,
        events=[_event(e) for e in events],
    )


def _aware(moment: datetime | None) -> datetime | None:
    # A time without an offset is taken as UTC, the zone every stored time is in.
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


def _done() -> Response:
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/users/{user_id}/disable", status_code=204, responses=CONFLICT)
async def admin_disable_user(
    user_id: uuid.UUID, admin: AdminUser, session: SessionDep, client: ClientInfoDep
) -> Response:
    """Disable the account: every session of it ends at once."""
    await admin_service.set_active(
        session, user_id=user_id, active=False, actor=_actor(admin), client=client
    )
    return _done()


@router.post("/users/{user_id}/enable", status_code=204)
async def admin_enable_user(
    user_id: uuid.UUID, admin: AdminUser, session: SessionDep, client: ClientInfoDep
) -> Response:
    await admin_service.set_active(
        session, user_id=user_id, active=True, actor=_actor(admin), client=client
    )
    return _done()


@router.post("/users/{user_id}/verify-email", status_code=204, responses=CONFLICT)
async def admin_verify_email(
    user_id: uuid.UUID, admin: AdminUser, session: SessionDep, client: ClientInfoDep
) -> Response:
    """Mark the account's address confirmed (e.g. after support checked it)."""
    await admin_service.mark_verified(session, user_id=user_id, actor=_actor(admin), client=client)
    return _done()


@router.post(
    "/users/{user_id}/password-reset",
    status_code=202,
    # No body: without this the schema would promise JSON.
    response_class=Response,
    responses={**CONFLICT, 429: {"model": ErrorResponse}},
)
async def admin_send_password_reset(
    user_id: uuid.UUID,
    admin: AdminUser,
    session: SessionDep,
    client: ClientInfoDep,
    settings: SettingsDep,
) -> Response:
    """Email the account a password-reset link."""
    await admin_service.send_password_reset(
        session, user_id=user_id, actor=_actor(admin), client=client, settings=settings
    )
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.delete("/users/{user_id}/sessions/{session_id}", status_code=204)
async def admin_revoke_session(
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    admin: AdminUser,
    session: SessionDep,
    client: ClientInfoDep,
) -> Response:
    await admin_service.revoke_sessions(
        session, user_id=user_id, session_id=session_id, actor=_actor(admin), client=client
    )
    return _done()


@router.post("/users/{user_id}/sessions/revoke-all", response_model=RevokedCount)
async def admin_revoke_all_sessions(
    user_id: uuid.UUID, admin: AdminUser, session: SessionDep, client: ClientInfoDep
) -> RevokedCount:
    """Sign the account out everywhere."""
    count = await admin_service.revoke_sessions(
        session, user_id=user_id, session_id=None, actor=_actor(admin), client=client
    )
    return RevokedCount(revoked=count)


@router.delete("/users/{user_id}", status_code=204, responses=CONFLICT)
async def admin_delete_user(
    user_id: uuid.UUID, admin: AdminUser, session: SessionDep, client: ClientInfoDep
) -> Response:
    """Delete the account with its sessions, notes and tokens; its audit events stay."""
    await admin_service.delete_user(session, user_id=user_id, actor=_actor(admin), client=client)
    return _done()


@router.post("/users/{user_id}/admin", status_code=204)
async def admin_grant_admin(
    user_id: uuid.UUID, admin: AdminUser, session: SessionDep, client: ClientInfoDep
) -> Response:
    await admin_service.set_admin(
        session, user_id=user_id, admin=True, actor=_actor(admin), client=client
    )
    return _done()


@router.delete("/users/{user_id}/admin", status_code=204, responses=CONFLICT)
async def admin_revoke_admin(
    user_id: uuid.UUID, admin: AdminUser, session: SessionDep, client: ClientInfoDep
) -> Response:
    await admin_service.set_admin(
        session, user_id=user_id, admin=False, actor=_actor(admin), client=client
    )
    return _done()


@router.get("/events", response_model=AdminEventPage)
async def admin_search_events(
    admin: AdminUser,
    session: SessionDep,
    user_id: uuid.UUID | None = None,
    kind: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> AdminEventPage:
    """The audit trail of every account, newest first: by account, kind, address and time."""
    rows, next_before = await admin_service.search_events(
        session,
        filters=EventFilters(
            user_id=user_id, kind=kind, ip=ip, since=_aware(since), until=_aware(until)
        ),
        limit=limit,
        before=before,
    )
    return AdminEventPage(items=[_event(r) for r in rows], next_before=next_before)

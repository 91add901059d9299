"""The tutorial's user routes, unchanged for its clients, and the JSON API's /me."""

from __future__ import annotations

from fastapi import APIRouter

from authflow.account import service as account_service
from authflow.audit import service as audit
from authflow.audit.service import EventKind
from authflow.auth.dependencies import ClientInfoDep, CurrentUser
from authflow.db import SessionDep
from authflow.dependencies import (
    DeferredDep,
    HasherDep,
    SessionmakerDep,
    SettingsDep,
    ThrottleDep,
)
from authflow.email import service as email_service
from authflow.errors import AppError, ErrorCode, ErrorResponse
from authflow.note.service import note as note_service
from authflow.user.schemas import ItemRead, UserCreate, UserRead
from authflow.user.service import user as user_service

AUTH_ERRORS: dict[int | str, dict[str, object]] = {401: {"model": ErrorResponse}}

tutorial_router = APIRouter(tags=["tutorial"])
router = APIRouter(prefix="/api/users", tags=["users"])


@tutorial_router.post(
    "/users/",
    response_model=UserRead,
    responses={
        409: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        429: {"model": ErrorResponse},
    },
)
@tutorial_router.post("/users", include_in_schema=False)
async def create_user(
    body: UserCreate,
    session: SessionDep,
    settings: SettingsDep,
    hasher: HasherDep,
    throttle: ThrottleDep,
    client: ClientInfoDep,
    sessionmaker: SessionmakerDep,
    deferred: DeferredDep,
) -> UserRead:
    """The tutorial's sign-up: JSON username + password (email optional), answers 200."""
    await throttle.limit("signup", ip=client.ip)
    email = str(body.email) if body.email else None
    try:
        created = await user_service.create(
            session,
            username=body.username,
            password=body.password,
            email=email,
            full_name=body.full_name,
            settings=settings,
            hasher=hasher,
        )
    except AppError as exc:
        if exc.code == ErrorCode.EMAIL_TAKEN and email is not None:
            account_service.tell_owner_of_signup_attempt(
                email=email, sessionmaker=sessionmaker, deferred=deferred, settings=settings
            )
        raise
    await email_service.send_verification(session, user=created, settings=settings)
    await audit.record(session, EventKind.signup, user_id=created.id, client=client)
    return UserRead.model_validate(created)


@tutorial_router.get("/users/me/", response_model=UserRead, responses=AUTH_ERRORS)
@tutorial_router.get("/users/me", include_in_schema=False)
async def read_users_me(current_user: CurrentUser) -> UserRead:
    return UserRead.model_validate(current_user)


@tutorial_router.get("/users/me/items/", response_model=list[ItemRead], responses=AUTH_ERRORS)
@tutorial_router.get("/users/me/items", include_in_schema=False)
async def read_own_items(current_user: CurrentUser, session: SessionDep) -> list[ItemRead]:
    notes = await note_service.list_for_owner(session, owner_id=current_user.id)
    return [
        ItemRead(
            item_id=n.id,
            owner=current_user.username,
            text=n.text,
            completed=n.completed,
            created_at=n.created_at,
            updated_at=n.updated_at,
        )
        for n in notes
    ]


@router.get("/me", response_model=UserRead, responses=AUTH_ERRORS)
async def read_me(current_user: CurrentUser) -> UserRead:
    return UserRead.model_validate(current_user)

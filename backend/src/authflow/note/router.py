from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from authflow.auth.dependencies import CurrentUser
from authflow.db import SessionDep
from authflow.errors import ErrorResponse
from authflow.note.schemas import NoteCreate, NoteRead, NoteUpdate
from authflow.note.service import note as note_service

router = APIRouter(
    prefix="/api/notes",
    tags=["notes"],
    responses={401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": ErrorResponse}}


@router.get("", response_model=list[NoteRead])
async def list_notes(current_user: CurrentUser, session: SessionDep) -> list[NoteRead]:
    notes = await note_service.list_for_owner(session, owner_id=current_user.id)
    return [NoteRead.model_validate(n) for n in notes]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=NoteRead)
async def create_note(body: NoteCreate, current_user: CurrentUser, session: SessionDep) -> NoteRead:
    created = await note_service.create(session, owner_id=current_user.id, text=body.text)
    return NoteRead.model_validate(created)


@router.patch("/{note_id}", response_model=NoteRead, responses=NOT_FOUND)
async def update_note(
    note_id: uuid.UUID, body: NoteUpdate, current_user: CurrentUser, session: SessionDep
) -> NoteRead:
    updated = await note_service.update(
        session,
        owner_id=current_user.id,
        note_id=note_id,
        text=body.text,
        completed=body.completed,
    )
    return NoteRead.model_validate(updated)


@router.delete("/{note_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_note(
    note_id: uuid.UUID, current_user: CurrentUser, session: SessionDep
) -> Response:
    await note_service.delete(session, owner_id=current_user.id, note_id=note_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

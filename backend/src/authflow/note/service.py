"""Notes, always scoped to their owner: another user's note simply does not exist."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from authflow.errors import AppError, ErrorCode
from authflow.kit.clock import utc_now
from authflow.models import Note

MAX_NOTES_LISTED = 500


def _not_found() -> AppError:
    return AppError(ErrorCode.NOTE_NOT_FOUND, "Note not found", 404)


class NoteService:
    async def list_for_owner(self, session: AsyncSession, *, owner_id: uuid.UUID) -> Sequence[Note]:
        result = await session.execute(
            select(Note)
            .where(Note.owner_id == owner_id)
            .order_by(Note.created_at.desc(), Note.id)
            .limit(MAX_NOTES_LISTED)
        )
        return result.scalars().all()

    async def create(self, session: AsyncSession, *, owner_id: uuid.UUID, text: str) -> Note:
        now = utc_now()
        note = Note(owner_id=owner_id, text=text, completed=False, created_at=now, updated_at=now)
        session.add(note)
        await session.flush()
        return note

    async def update(
        self,
        session: AsyncSession,
        *,
        owner_id: uuid.UUID,
        note_id: uuid.UUID,
        text: str | None,
        completed: bool | None,
    ) -> Note:
        note = (
            await session.execute(
                select(Note).where(Note.id == note_id, Note.owner_id == owner_id).with_for_update()
            )
        ).scalar_one_or_none()
        if note is None:
            raise _not_found()
        if text is not None:
            note.text = text
        if completed is not None:
            note.completed = completed
        note.updated_at = utc_now()
        await session.flush()
        return note

    async def delete(
        self, session: AsyncSession, *, owner_id: uuid.UUID, note_id: uuid.UUID
    ) -> None:
        result = await session.execute(
            delete(Note).where(Note.id == note_id, Note.owner_id == owner_id).returning(Note.id)
        )
        if result.scalar_one_or_none() is None:
            raise _not_found()


note = NoteService()

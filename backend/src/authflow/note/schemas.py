from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from authflow.kit.strings import TextStr

NoteText = Annotated[TextStr, Field(min_length=1, max_length=1000)]


class NoteCreate(BaseModel):
    text: NoteText


class NoteUpdate(BaseModel):
    text: NoteText | None = None
    completed: Annotated[bool | None, Field(strict=True)] = None

    @model_validator(mode="after")
    def _something_to_change(self) -> NoteUpdate:
        if self.text is None and self.completed is None:
            raise ValueError("give text or completed")
        return self


class NoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    text: str
    completed: bool
    created_at: datetime
    updated_at: datetime

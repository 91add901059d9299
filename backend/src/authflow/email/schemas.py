from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from authflow.kit.strings import LineStr


class EmailTokenRequest(BaseModel):
    token: Annotated[LineStr, Field(min_length=1, max_length=256)]


class VerifiedResponse(BaseModel):
    email: str
    is_verified: bool

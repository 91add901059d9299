from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from authflow.kit.strings import LineStr, SafeStr
from authflow.kit.text import identifier_key

USERNAME_PUNCTUATION = frozenset("._-")
MAX_EMAIL_KEY_LENGTH = 320


def _username_char_ok(ch: str) -> bool:
    # Letters with their combining marks (so "İlker" and "अनिल" are fine), digits and a
    # little punctuation.
    return ch in USERNAME_PUNCTUATION or unicodedata.category(ch)[0] in "LMN"


def _valid_username(value: str) -> str:
    value = value.strip()
    key = identifier_key(value)
    if not 3 <= len(key) <= 32:
        raise ValueError("must be 3 to 32 characters")
    # No "@": usernames and email addresses share the login field, so they must never
    # be mistaken for each other.
    if not all(_username_char_ok(ch) for ch in key):
        raise ValueError("may contain only letters, digits, '.', '_' and '-'")
    return value


def _valid_email(value: str) -> str:
    # NFKC can lengthen text a lot (one U+FDFA becomes 18 characters); the canonical
    # form is what gets stored and indexed, so it is what must fit.
    if len(identifier_key(value)) > MAX_EMAIL_KEY_LENGTH:
        raise ValueError("is too long")
    return value


Username = Annotated[LineStr, Field(min_length=1, max_length=64), AfterValidator(_valid_username)]
Password = Annotated[SafeStr, Field(min_length=1, max_length=4096)]
FullName = Annotated[LineStr, Field(max_length=200)]
Email = Annotated[EmailStr, Field(max_length=320), AfterValidator(_valid_email)]


class UserCreate(BaseModel):
    """The tutorial's sign-up body at POST /users/ (email optional there)."""

    model_config = ConfigDict(extra="ignore")

    username: Username
    password: Password
    email: Email | None = None
    full_name: FullName | None = None


class SignupRequest(BaseModel):
    username: Username
    email: Email
    password: Password
    full_name: FullName | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    email: str | None
    full_name: str | None
    disabled: bool = Field(description="The tutorial's name for not is_active")
    is_verified: bool
    is_superuser: bool
    created_at: datetime


class ItemRead(BaseModel):
    """The tutorial's item shape, backed by a note."""

    item_id: uuid.UUID
    owner: str
    text: str
    completed: bool
    created_at: datetime
    updated_at: datetime

"""Every table, imported here so Alembic and the app see one metadata."""

from authflow.models.base import Base
from authflow.models.note import Note
from authflow.models.signing_key import SigningKey
from authflow.models.spent_refresh_token import SpentRefreshToken
from authflow.models.user import User
from authflow.models.user_session import UserSession

__all__ = ["Base", "Note", "SigningKey", "SpentRefreshToken", "User", "UserSession"]

"""Every table, imported here so Alembic and the app see one metadata."""

from authflow.models.base import Base
from authflow.models.email_outbox import EmailOutbox
from authflow.models.email_token import EmailToken
from authflow.models.note import Note
from authflow.models.signing_key import SigningKey
from authflow.models.spent_refresh_token import SpentRefreshToken
from authflow.models.user import User
from authflow.models.user_session import UserSession

__all__ = [
    "Base",
    "EmailOutbox",
    "EmailToken",
    "Note",
    "SigningKey",
    "SpentRefreshToken",
    "User",
    "UserSession",
]

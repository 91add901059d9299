"""Every table, imported here so Alembic and the app see one metadata."""

from authflow.models.auth_event import AuthEvent
from authflow.models.base import Base
from authflow.models.email_outbox import EmailOutbox
from authflow.models.email_token import EmailToken
from authflow.models.note import Note
from authflow.models.recovery_code import RecoveryCode
from authflow.models.signing_key import SigningKey
from authflow.models.spent_refresh_token import SpentRefreshToken
from authflow.models.throttle_counter import ThrottleCounter
from authflow.models.totp_credential import TotpCredential
from authflow.models.two_factor_challenge import TwoFactorChallenge
from authflow.models.user import User
from authflow.models.user_device import UserDevice
from authflow.models.user_session import UserSession

__all__ = [
    "AuthEvent",
    "Base",
    "EmailOutbox",
    "EmailToken",
    "Note",
    "RecoveryCode",
    "SigningKey",
    "SpentRefreshToken",
    "ThrottleCounter",
    "TotpCredential",
    "TwoFactorChallenge",
    "User",
    "UserDevice",
    "UserSession",
]

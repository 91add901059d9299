"""Email tokens and the flows that send them.

A token is 256 random bits, kept only as its SHA-256, bound to one purpose, one user
and the address it was sent to, single-use, short-lived, and void once the user's
password changes after it was issued.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import StrEnum
from typing import cast
from urllib.parse import urlencode

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from authflow.config import Settings
from authflow.email import templates
from authflow.email.outbox import enqueue
from authflow.errors import AppError, ErrorCode
from authflow.kit.clock import utc_now
from authflow.kit.tokens import new_token, token_hash
from authflow.models import EmailToken, User

_tokens = cast(Table, EmailToken.__table__)
_users = cast(Table, User.__table__)


class Purpose(StrEnum):
    verify_email = "verify_email"
    reset_password = "reset_password"
    change_email = "change_email"


def _token_error(code: ErrorCode, detail: str) -> AppError:
    return AppError(code, detail, 400)


def invalid_token() -> AppError:
    # Unknown, tampered, another purpose, or voided by a password change.
    return _token_error(ErrorCode.EMAIL_TOKEN_INVALID, "This link is not valid.")


async def issue_token(
    session: AsyncSession, *, user: User, purpose: Purpose, email: str, ttl: timedelta
) -> str:
    token = new_token()
    now = utc_now()
    session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose.value,
            token_hash=token_hash(token),
            email=email,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return token


def _ensure_usable(row: EmailToken | None, purpose: Purpose) -> EmailToken:
    if row is None or row.purpose != purpose.value:
        raise invalid_token()
    if row.used_at is not None:
        raise _token_error(ErrorCode.EMAIL_TOKEN_USED, "This link has already been used.")
    if row.expires_at <= utc_now():
        raise _token_error(ErrorCode.EMAIL_TOKEN_EXPIRED, "This link has expired.")
    return row


def _ensure_not_voided(row: EmailToken, user: User | None) -> User:
    # A password change voids every link issued before it.
    if user is None or user.password_changed_at > row.created_at:
        raise invalid_token()
    return user


async def peek_token(
    conn: AsyncConnection, *, token: str, purpose: Purpose
) -> tuple[EmailToken, User]:
    """Check a token without spending it (one autocommit query, no locks): for flows that
    must do slow work, such as hashing a new password, before they spend it."""
    found = (
        await conn.execute(
            select(_tokens, _users)
            .join(_users, _users.c.id == _tokens.c.user_id)
            .where(_tokens.c.token_hash == token_hash(token))
        )
    ).one_or_none()
    if found is None:
        raise invalid_token()
    mapping = found._mapping
    row = EmailToken(**{c.key: mapping[_tokens.c[c.key]] for c in _tokens.columns})
    user = User(**{c.key: mapping[_users.c[c.key]] for c in _users.columns})
    _ensure_usable(row, purpose)
    return row, _ensure_not_voided(row, user)


async def consume_token(
    session: AsyncSession, *, token: str, purpose: Purpose
) -> tuple[EmailToken, User]:
    """Spend a token: exactly one of any number of concurrent uses succeeds. Returns it
    with its user, locked for the change the token allows."""
    row = (
        await session.execute(
            select(EmailToken).where(EmailToken.token_hash == token_hash(token)).with_for_update()
        )
    ).scalar_one_or_none()
    row = _ensure_usable(row, purpose)
    user = _ensure_not_voided(row, await session.get(User, row.user_id, with_for_update=True))
    row.used_at = utc_now()
    await session.flush()
    return row, user


def web_url(settings: Settings, path: str) -> str:
    """A page of the web app, for a message."""
    return f"{settings.web_origin.rstrip('/')}{path}"


def web_link(settings: Settings, path: str, token: str) -> str:
    return f"{web_url(settings, path)}?{urlencode({'token': token})}"


async def send_verification(session: AsyncSession, *, user: User, settings: Settings) -> None:
    if user.email is None:
        return
    token = await issue_token(
        session,
        user=user,
        purpose=Purpose.verify_email,
        email=user.email,
        ttl=timedelta(hours=settings.email_verification_ttl_hours),
    )
    message = templates.verify_email(
        product=settings.product_name,
        to_address=user.email,
        username=user.username,
        link=web_link(settings, "/verify-email", token),
        valid_hours=settings.email_verification_ttl_hours,
    )
    await enqueue(session, message, kind=Purpose.verify_email.value)


async def verify_email(session: AsyncSession, *, token: str) -> User:
    row, user = await consume_token(session, token=token, purpose=Purpose.verify_email)
    if user.email != row.email:
        # The address changed since the link was sent: it proves nothing about the new one.
        raise invalid_token()
    user.is_verified = True
    return user


async def seconds_until_allowed(
    session: AsyncSession, *, user_id: uuid.UUID, purpose: Purpose, settings: Settings
) -> int:
    """0 if a new link of this purpose may go to this user now, else the seconds to wait."""
    last = (
        await session.execute(
            select(func.max(EmailToken.created_at)).where(
                EmailToken.user_id == user_id, EmailToken.purpose == purpose.value
            )
        )
    ).scalar_one()
    interval = timedelta(seconds=settings.email_resend_interval_seconds)
    now = utc_now()
    if last is None or now - last >= interval:
        return 0
    return int((last + interval - now).total_seconds()) + 1


def too_soon(wait: int) -> AppError:
    return AppError(
        ErrorCode.TOO_MANY_REQUESTS,
        f"A message was sent moments ago; try again in {wait} seconds.",
        429,
        headers={"Retry-After": str(wait)},
    )


async def resend_verification(
    session: AsyncSession, *, user_id: uuid.UUID, settings: Settings
) -> None:
    user = await session.get(User, user_id, with_for_update=True)
    if user is None or user.email is None:
        raise AppError(ErrorCode.NO_EMAIL_ADDRESS, "This account has no email address.", 409)
    if user.is_verified:
        raise AppError(ErrorCode.EMAIL_ALREADY_VERIFIED, "This address is already verified.", 409)
    wait = await seconds_until_allowed(
        session, user_id=user.id, purpose=Purpose.verify_email, settings=settings
    )
    if wait:
        raise too_soon(wait)
    # Older links stay valid until they expire: the user may open whichever arrives.
    await send_verification(session, user=user, settings=settings)

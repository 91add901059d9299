"""Email tokens and the flows that send them.

A token is 256 random bits, kept only as its SHA-256, bound to one purpose, one user
and the address it was sent to, single-use, short-lived, and void once the user's
password changes after it was issued.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import StrEnum
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from authflow.config import Settings
from authflow.email import templates
from authflow.email.outbox import enqueue
from authflow.errors import AppError, ErrorCode
from authflow.kit.clock import utc_now
from authflow.kit.tokens import new_token, token_hash
from authflow.models import EmailToken, User


class Purpose(StrEnum):
    verify_email = "verify_email"


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
    if row is None or row.purpose != purpose.value:
        raise invalid_token()
    if row.used_at is not None:
        raise _token_error(ErrorCode.EMAIL_TOKEN_USED, "This link has already been used.")
    now = utc_now()
    if row.expires_at <= now:
        raise _token_error(ErrorCode.EMAIL_TOKEN_EXPIRED, "This link has expired.")
    user = await session.get(User, row.user_id, with_for_update=True)
    if user is None or user.password_changed_at > row.created_at:
        raise invalid_token()
    row.used_at = now
    await session.flush()
    return row, user


def web_link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.web_origin.rstrip('/')}{path}?{urlencode({'token': token})}"


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


async def resend_verification(
    session: AsyncSession, *, user_id: uuid.UUID, settings: Settings
) -> None:
    user = await session.get(User, user_id, with_for_update=True)
    if user is None or user.email is None:
        raise AppError(ErrorCode.NO_EMAIL_ADDRESS, "This account has no email address.", 409)
    if user.is_verified:
        raise AppError(ErrorCode.EMAIL_ALREADY_VERIFIED, "This address is already verified.", 409)
    last = (
        await session.execute(
            select(func.max(EmailToken.created_at)).where(
                EmailToken.user_id == user.id, EmailToken.purpose == Purpose.verify_email.value
            )
        )
    ).scalar_one()
    interval = timedelta(seconds=settings.verification_resend_interval_seconds)
    now = utc_now()
    if last is not None and now - last < interval:
        wait = int((last + interval - now).total_seconds()) + 1
        raise AppError(
            ErrorCode.TOO_MANY_REQUESTS,
            f"A message was sent moments ago; try again in {wait} seconds.",
            429,
            headers={"Retry-After": str(wait)},
        )
    # Older links stay valid until they expire: the user may open whichever arrives.
    await send_verification(session, user=user, settings=settings)

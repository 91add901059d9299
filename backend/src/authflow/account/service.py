"""Password and address changes: forgot/reset, change password, change email.

Slow work (hashing) happens before the request's transaction starts, so no pooled
connection waits on the hasher; the change itself is one transaction that also queues
the messages it causes.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from authflow.audit import service as audit
from authflow.audit.service import EventKind
from authflow.auth.service import AuthUser, ClientInfo
from authflow.config import Settings
from authflow.email import templates
from authflow.email.outbox import enqueue
from authflow.email.service import (
    Purpose,
    consume_token,
    invalid_token,
    issue_token,
    peek_token,
    seconds_until_allowed,
    too_soon,
    web_link,
    web_url,
)
from authflow.errors import AppError, ErrorCode, FieldError
from authflow.kit.clock import utc_now
from authflow.kit.deferred import Deferred
from authflow.kit.passwords import PasswordHasher
from authflow.kit.text import identifier_key
from authflow.models import EmailOutbox, User
from authflow.two_factor import service as two_factor
from authflow.user.service import require_acceptable_password
from authflow.user_session.service import user_session as user_session_service

_users = cast(Table, User.__table__)
SIGNUP_ATTEMPT = "signup_attempt"


def _wrong_current_password() -> AppError:
    return AppError(
        ErrorCode.CURRENT_PASSWORD_INCORRECT,
        "The current password is not correct.",
        400,
        errors=[FieldError(field="current_password", message="Not correct", code="incorrect")],
    )


async def password_matches(
    lookup: AsyncEngine, hasher: PasswordHasher, *, user_id: uuid.UUID, password: str
) -> bool:
    """Whether ``password`` is the user's. Read on an autocommit connection that is
    given back before hashing, as at sign-in."""
    async with lookup.connect() as conn:
        stored = (
            await conn.execute(select(_users.c.hashed_password).where(_users.c.id == user_id))
        ).scalar_one_or_none()
    ok, _ = await hasher.verify_and_update(password, stored)
    return ok


async def _check_current_password(
    lookup: AsyncEngine, hasher: PasswordHasher, *, user_id: uuid.UUID, password: str
) -> None:
    if not await password_matches(lookup, hasher, user_id=user_id, password=password):
        raise _wrong_current_password()


async def set_password(
    session: AsyncSession, user: User, hashed: str, *, settings: Settings
) -> datetime:
    now = utc_now()
    user.hashed_password = hashed
    # Voids every email link issued before now (see email.service).
    user.password_changed_at = now
    user.failed_login_count = 0
    if user.email is not None:
        await enqueue(
            session,
            templates.password_changed(
                product=settings.product_name,
                to_address=user.email,
                username=user.username,
                when=templates.when(now),
                reset_link=web_url(settings, "/forgot-password"),
            ),
            kind="password_changed",
        )
    return now


# Forgot and reset


async def request_password_reset(
    *,
    email: str,
    client: ClientInfo,
    lookup: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    deferred: Deferred,
    settings: Settings,
) -> None:
    """Send a reset link if an active account uses ``email``. The caller's answer and its
    timing are the same either way: the request does one indexed lookup, and whatever
    follows from its result runs after the response."""
    async with lookup.connect() as conn:
        user_id = (
            await conn.execute(
                select(_users.c.id).where(
                    _users.c.email_key == identifier_key(email), _users.c.is_active.is_(True)
                )
            )
        ).scalar_one_or_none()
    if user_id is not None:
        deferred.spawn(
            _send_reset_link(sessionmaker, user_id=user_id, client=client, settings=settings),
            name="password-reset-link",
        )


async def _send_reset_link(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    user_id: uuid.UUID,
    client: ClientInfo,
    settings: Settings,
) -> None:
    async with sessionmaker() as session, session.begin():
        user = await session.get(User, user_id, with_for_update=True)
        if user is None or not user.is_active or user.email is None:
            return
        if await seconds_until_allowed(
            session, user_id=user.id, purpose=Purpose.reset_password, settings=settings
        ):
            # Nobody to tell: the requester gets the same answer whatever happens here.
            return
        await send_reset_link(session, user=user, settings=settings)
        await audit.record(
            session, EventKind.password_reset_requested, user_id=user.id, client=client
        )


async def send_reset_link(session: AsyncSession, *, user: User, settings: Settings) -> None:
    """Issue a reset token for ``user`` and queue the email carrying it."""
    assert user.email is not None
    token = await issue_token(
        session,
        user=user,
        purpose=Purpose.reset_password,
        email=user.email,
        ttl=timedelta(minutes=settings.password_reset_ttl_minutes),
    )
    await enqueue(
        session,
        templates.password_reset(
            product=settings.product_name,
            to_address=user.email,
            username=user.username,
            link=web_link(settings, "/reset-password", token),
            valid_minutes=settings.password_reset_ttl_minutes,
        ),
        kind=Purpose.reset_password.value,
    )


async def reset_password(
    session: AsyncSession,
    *,
    token: str,
    client: ClientInfo,
    password: str,
    lookup: AsyncEngine,
    hasher: PasswordHasher,
    settings: Settings,
) -> User:
    """Set a new password with a reset link, and end every session of the user."""
    # Checked first without spending it, so a dead link costs no hashing and the
    # policy can compare the password with this user's name and address.
    async with lookup.connect() as conn:
        _, peeked = await peek_token(conn, token=token, purpose=Purpose.reset_password)
    require_acceptable_password(
        password, settings=settings, username=peeked.username, email=peeked.email
    )
    hashed = await hasher.hash(password)
    row, user = await consume_token(session, token=token, purpose=Purpose.reset_password)
    if user.email != row.email or not user.is_active:
        # The link went to an address the account no longer has, or the account was
        # disabled since: it proves nothing now.
        raise invalid_token()
    await set_password(session, user, hashed, settings=settings)
    # Opening the link proved the address.
    user.is_verified = True
    await user_session_service.revoke_all(session, user_id=user.id, reason="password_reset")
    await audit.record(session, EventKind.password_reset_done, user_id=user.id, client=client)
    return user


# Sign-up with an address that is taken


def tell_owner_of_signup_attempt(
    *,
    email: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    deferred: Deferred,
    settings: Settings,
) -> None:
    """Sign-up says an address is taken (see docs/decisions.md); its owner hears that
    someone tried, at most once per resend interval, after the answer has gone out."""
    deferred.spawn(
        _send_signup_attempt_notice(sessionmaker, email=email, settings=settings),
        name="signup-attempt-notice",
    )


async def _send_signup_attempt_notice(
    sessionmaker: async_sessionmaker[AsyncSession], *, email: str, settings: Settings
) -> None:
    async with sessionmaker() as session, session.begin():
        user = (
            await session.execute(
                select(User).where(User.email_key == identifier_key(email)).with_for_update()
            )
        ).scalar_one_or_none()
        if user is None or user.email is None:
            return
        since = utc_now() - timedelta(seconds=settings.email_resend_interval_seconds)
        recent = await session.execute(
            select(EmailOutbox.id).where(
                EmailOutbox.kind == SIGNUP_ATTEMPT,
                EmailOutbox.to_address == user.email,
                EmailOutbox.created_at > since,
            )
        )
        if recent.first() is not None:
            return
        await enqueue(
            session,
            templates.signup_attempt(
                product=settings.product_name,
                to_address=user.email,
                username=user.username,
                login_link=web_url(settings, "/login"),
                reset_link=web_url(settings, "/forgot-password"),
            ),
            kind=SIGNUP_ATTEMPT,
        )


# Change password


async def change_password(
    session: AsyncSession,
    *,
    current_user: AuthUser,
    client: ClientInfo,
    current_password: str,
    new_password: str,
    lookup: AsyncEngine,
    hasher: PasswordHasher,
    settings: Settings,
) -> None:
    """Change the password of the signed-in user and end their other sessions."""
    await _require_step_up(session, current_user, settings)
    await _check_current_password(
        lookup, hasher, user_id=current_user.id, password=current_password
    )
    if new_password == current_password:
        raise AppError(
            ErrorCode.PASSWORD_UNCHANGED,
            "The new password must differ from the current one.",
            422,
            errors=[
                FieldError(field="new_password", message="Same as the current one", code="same")
            ],
        )
    require_acceptable_password(
        new_password,
        settings=settings,
        username=current_user.username,
        email=current_user.email,
        field="new_password",
    )
    hashed = await hasher.hash(new_password)
    user = await session.get(User, current_user.id, with_for_update=True)
    assert user is not None  # the live-session lookup just found it
    await set_password(session, user, hashed, settings=settings)
    await user_session_service.revoke_all(
        session, user_id=user.id, reason="password_changed", keep=current_user.session_id
    )
    await audit.record(
        session,
        EventKind.password_changed,
        user_id=user.id,
        session_id=current_user.session_id,
        client=client,
    )


async def _require_step_up(session: AsyncSession, user: AuthUser, settings: Settings) -> None:
    """The password these forms ask for is itself a fresh sign-in for an account without
    two-factor; an account with it must have shown a code recently too."""
    if not two_factor.is_recent(user, settings) and await two_factor.is_enabled(session, user.id):
        raise two_factor.step_up_required(settings)


# Change email


async def request_email_change(
    session: AsyncSession,
    *,
    current_user: AuthUser,
    client: ClientInfo,
    current_password: str,
    new_email: str,
    lookup: AsyncEngine,
    hasher: PasswordHasher,
    settings: Settings,
) -> None:
    """Send a confirmation link to the new address and a notice to the old one. The
    address changes only when the link is opened."""
    await _require_step_up(session, current_user, settings)
    await _check_current_password(
        lookup, hasher, user_id=current_user.id, password=current_password
    )
    new_key = identifier_key(new_email)
    if current_user.email is not None and identifier_key(current_user.email) == new_key:
        raise AppError(
            ErrorCode.EMAIL_UNCHANGED,
            "This is already your address.",
            422,
            errors=[FieldError(field="new_email", message="Already your address", code="same")],
        )
    user = await session.get(User, current_user.id, with_for_update=True)
    assert user is not None
    wait = await seconds_until_allowed(
        session, user_id=user.id, purpose=Purpose.change_email, settings=settings
    )
    if wait:
        raise too_soon(wait)
    await _ensure_address_free(session, new_key, user_id=user.id)
    token = await issue_token(
        session,
        user=user,
        purpose=Purpose.change_email,
        email=new_email,
        ttl=timedelta(minutes=settings.email_change_ttl_minutes),
    )
    await enqueue(
        session,
        templates.confirm_email_change(
            product=settings.product_name,
            to_address=new_email,
            username=user.username,
            link=web_link(settings, "/confirm-email-change", token),
            valid_minutes=settings.email_change_ttl_minutes,
        ),
        kind=Purpose.change_email.value,
    )
    if user.email is not None:
        await enqueue(
            session,
            templates.email_change_requested(
                product=settings.product_name,
                to_address=user.email,
                username=user.username,
                new_address=new_email,
                account_link=web_url(settings, "/account"),
            ),
            kind="email_change_requested",
        )
    await audit.record(
        session,
        EventKind.email_change_requested,
        user_id=user.id,
        session_id=current_user.session_id,
        client=client,
        detail={"new_email": new_email},
    )


async def _ensure_address_free(session: AsyncSession, key: str, *, user_id: uuid.UUID) -> None:
    taken = (
        await session.execute(
            select(_users.c.id).where(_users.c.email_key == key, _users.c.id != user_id)
        )
    ).first()
    if taken is not None:
        raise _address_taken()


def _address_taken() -> AppError:
    return AppError(
        ErrorCode.EMAIL_TAKEN,
        "An account with this email address already exists.",
        409,
        errors=[FieldError(field="new_email", message="Already in use", code="taken")],
    )


async def confirm_email_change(session: AsyncSession, *, token: str, client: ClientInfo) -> User:
    row, user = await consume_token(session, token=token, purpose=Purpose.change_email)
    old_email = user.email
    key = identifier_key(row.email)
    # Checked again: someone may have taken the address since the link was sent. The
    # link stays unspent (the transaction rolls back), so it works if the address frees.
    await _ensure_address_free(session, key, user_id=user.id)
    try:
        async with session.begin_nested():
            user.email = row.email
            user.email_key = key
            user.is_verified = True
    except IntegrityError:
        raise _address_taken() from None
    await audit.record(
        session,
        EventKind.email_changed,
        user_id=user.id,
        client=client,
        detail={"from": old_email, "to": row.email},
    )
    return user

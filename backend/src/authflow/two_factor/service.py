"""Two-factor sign-in: TOTP enrolment, recovery codes, and the challenge a correct
password earns an account that has a second factor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from authflow.audit import service as audit
from authflow.audit.service import EventKind
from authflow.auth.service import AuthUser
from authflow.config import Settings
from authflow.email import templates
from authflow.email.outbox import enqueue
from authflow.email.service import web_url
from authflow.errors import AppError, ErrorCode, FieldError
from authflow.kit import recovery_codes, totp
from authflow.kit.client import ClientInfo
from authflow.kit.clock import utc_now
from authflow.kit.server_secret import ServerSecret
from authflow.kit.tokens import MAX_REFRESH_TOKEN_LENGTH, new_token, token_hash
from authflow.models import (
    RecoveryCode,
    TotpCredential,
    TwoFactorChallenge,
    User,
    UserSession,
)

SEAL_PURPOSE = "totp-secret"
RECOVERY_CODE_KEY_LABEL = "recovery-codes"
# Wrong codes one challenge survives; then the password must be entered again (and
# that is throttled too).
MAX_CHALLENGE_FAILURES = 5

_totp = cast(Table, TotpCredential.__table__)
_codes = cast(Table, RecoveryCode.__table__)
_challenges = cast(Table, TwoFactorChallenge.__table__)
_sessions = cast(Table, UserSession.__table__)
_users = cast(Table, User.__table__)


class SecondFactor(StrEnum):
    totp = "totp"
    recovery_code = "recovery_code"


class ChallengeVia(StrEnum):
    browser = "browser"
    token = "token"


def code_invalid() -> AppError:
    # One answer for wrong, reused, expired and malformed codes.
    return AppError(
        ErrorCode.TWO_FACTOR_CODE_INVALID,
        "That code is not valid. Enter the current code from your authenticator app, "
        "or an unused recovery code.",
        400,
        errors=[FieldError(field="code", message="Invalid code", code="invalid")],
    )


def challenge_invalid() -> AppError:
    return AppError(
        ErrorCode.TWO_FACTOR_CHALLENGE_INVALID,
        "This sign-in has expired. Enter your password again.",
        401,
    )


def _not_enabled() -> AppError:
    return AppError(
        ErrorCode.TWO_FACTOR_NOT_ENABLED, "Two-factor authentication is not turned on.", 409
    )


def _already_enabled() -> AppError:
    return AppError(
        ErrorCode.TWO_FACTOR_ALREADY_ENABLED, "Two-factor authentication is already on.", 409
    )


@dataclass(frozen=True)
class Status:
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True)
class Challenge:
    token: str
    expires_in: int


def _enabled_clause(user_id: uuid.UUID) -> list[ColumnElement[bool]]:
    return [_totp.c.user_id == user_id, _totp.c.confirmed_at.is_not(None)]


async def is_enabled(target: AsyncSession | AsyncConnection, user_id: uuid.UUID) -> bool:
    query = select(exists().where(*_enabled_clause(user_id)))
    return bool((await target.execute(query)).scalar())


async def status(session: AsyncSession, user_id: uuid.UUID) -> Status:
    enabled_at = (
        await session.execute(select(_totp.c.confirmed_at).where(*_enabled_clause(user_id)))
    ).scalar_one_or_none()
    left = (
        await session.execute(
            select(func.count())
            .select_from(_codes)
            .where(_codes.c.user_id == user_id, _codes.c.used_at.is_(None))
        )
    ).scalar_one()
    return Status(
        enabled=enabled_at is not None,
        enabled_at=enabled_at,
        recovery_codes_left=left if enabled_at is not None else 0,
    )


# Enrolment


async def start_enrolment(
    session: AsyncSession, *, user: AuthUser, secret: ServerSecret, settings: Settings
) -> Enrolment:
    """A new secret, pending until confirmed with a code from it. Starting again
    replaces a pending secret (a QR code scanned on a lost phone is just dropped)."""
    plain = totp.new_secret()
    sealed = secret.seal(plain.encode("ascii"), purpose=SEAL_PURPOSE, context=user.id.bytes)
    stored = await session.execute(
        pg_insert(_totp)
        .values(user_id=user.id, sealed_secret=sealed, created_at=utc_now())
        .on_conflict_do_update(
            index_elements=[_totp.c.user_id],
            set_={"sealed_secret": sealed, "created_at": utc_now(), "last_used_step": None},
            # A confirmed secret is never replaced from here: that is disable, then enrol.
            where=_totp.c.confirmed_at.is_(None),
        )
        .returning(_totp.c.user_id)
    )
    if stored.one_or_none() is None:
        raise _already_enabled()
    # Authenticator apps show "issuer:account"; a colon in the product name would split it.
    uri = totp.provisioning_uri(
        plain, account=user.email or user.username, issuer=settings.product_name.replace(":", "")
    )
    return Enrolment(secret=plain, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


async def confirm_enrolment(
    session: AsyncSession,
    *,
    user: AuthUser,
    code: str,
    secret: ServerSecret,
    settings: Settings,
    client: ClientInfo,
) -> list[str]:
    """Turn two-factor on once the user shows a code from the new secret; returns the
    recovery codes, which are never shown again."""
    row = (
        await session.execute(select(_totp).where(_totp.c.user_id == user.id).with_for_update())
    ).one_or_none()
    if row is None:
        raise AppError(
            ErrorCode.TWO_FACTOR_ENROLMENT_NOT_STARTED,
            "Start setting up two-factor authentication first.",
            409,
        )
    if row.confirmed_at is not None:
        raise _already_enabled()
    now = utc_now()
    step = _matching_step(row, code, secret=secret, user_id=user.id, now=now)
    if step is None:
        raise code_invalid()
    await session.execute(
        update(_totp)
        .where(_totp.c.user_id == user.id)
        .values(confirmed_at=now, last_used_step=step)
    )
    codes = await _replace_recovery_codes(session, user_id=user.id, secret=secret, now=now)
    # This session has just shown the second factor; the others showed only a password,
    # so their next sensitive action asks again.
    await session.execute(
        update(_sessions).where(_sessions.c.id == user.session_id).values(authenticated_at=now)
    )
    await session.execute(
        update(_sessions)
        .where(_sessions.c.user_id == user.id, _sessions.c.id != user.session_id)
        .values(authenticated_at=None)
    )
    await audit.record(
        session,
        EventKind.two_factor_enabled,
        user_id=user.id,
        session_id=user.session_id,
        client=client,
    )
    await _notify(session, user=user, enabled=True, settings=settings, now=now)
    return codes


def _matching_step(
    row: Row[Any], code: str, *, secret: ServerSecret, user_id: uuid.UUID, now: datetime
) -> int | None:
    """The step of ``code`` for the credential ``row`` (see kit.totp.matching_step)."""
    if not totp.CODE_PATTERN.fullmatch(code):
        return None
    plain = secret.unseal(row.sealed_secret, purpose=SEAL_PURPOSE, context=user_id.bytes)
    return totp.matching_step(plain.decode("ascii"), code, now=now, after=row.last_used_step)


async def _replace_recovery_codes(
    session: AsyncSession, *, user_id: uuid.UUID, secret: ServerSecret, now: datetime
) -> list[str]:
    key = secret.derive(RECOVERY_CODE_KEY_LABEL)
    codes = recovery_codes.generate()
    await session.execute(delete(_codes).where(_codes.c.user_id == user_id))
    await session.execute(
        insert(_codes),
        [
            {
                "id": uuid.uuid4(),
                "user_id": user_id,
                "code_hash": recovery_codes.code_hash(key, recovery_codes.normalise(code) or ""),
                "created_at": now,
            }
            for code in codes
        ],
    )
    return codes


async def regenerate_recovery_codes(
    session: AsyncSession, *, user: AuthUser, secret: ServerSecret, client: ClientInfo
) -> list[str]:
    """Ten new codes; every older one stops working."""
    if not await _lock_enabled(session, user.id):
        raise _not_enabled()
    codes = await _replace_recovery_codes(session, user_id=user.id, secret=secret, now=utc_now())
    await audit.record(
        session,
        EventKind.recovery_codes_regenerated,
        user_id=user.id,
        session_id=user.session_id,
        client=client,
    )
    return codes


async def disable(
    session: AsyncSession, *, user: AuthUser, settings: Settings, client: ClientInfo
) -> None:
    """Turn two-factor off: the secret, recovery codes and open challenges go."""
    removed = await session.execute(
        delete(_totp).where(*_enabled_clause(user.id)).returning(_totp.c.user_id)
    )
    if removed.one_or_none() is None:
        raise _not_enabled()
    await session.execute(delete(_codes).where(_codes.c.user_id == user.id))
    await session.execute(delete(_challenges).where(_challenges.c.user_id == user.id))
    await audit.record(
        session,
        EventKind.two_factor_disabled,
        user_id=user.id,
        session_id=user.session_id,
        client=client,
    )
    await _notify(session, user=user, enabled=False, settings=settings, now=utc_now())


async def _lock_enabled(session: AsyncSession, user_id: uuid.UUID) -> bool:
    row = await session.execute(
        select(_totp.c.user_id).where(*_enabled_clause(user_id)).with_for_update()
    )
    return row.one_or_none() is not None


async def _notify(
    session: AsyncSession, *, user: AuthUser, enabled: bool, settings: Settings, now: datetime
) -> None:
    if user.email is None:
        return
    await enqueue(
        session,
        templates.two_factor_changed(
            product=settings.product_name,
            to_address=user.email,
            username=user.username,
            when=templates.when(now),
            enabled=enabled,
            link=web_url(settings, "/account#two-factor"),
        ),
        kind="two_factor_enabled" if enabled else "two_factor_disabled",
    )


# Checking a code


async def verify_code(
    session: AsyncSession, *, user_id: uuid.UUID, code: str, secret: ServerSecret
) -> SecondFactor:
    """Accept a TOTP code (this step or the one before, each step once) or an unused
    recovery code, spending it; anything else is ``code_invalid``. The credential row is
    locked, so two requests with one code cannot both pass."""
    row = (
        await session.execute(select(_totp).where(*_enabled_clause(user_id)).with_for_update())
    ).one_or_none()
    if row is None:
        raise code_invalid()
    now = utc_now()
    step = _matching_step(row, code, secret=secret, user_id=user_id, now=now)
    if step is not None:
        await session.execute(
            update(_totp).where(_totp.c.user_id == user_id).values(last_used_step=step)
        )
        return SecondFactor.totp
    normalised = recovery_codes.normalise(code)
    if normalised is not None:
        spent = await session.execute(
            update(_codes)
            .where(
                _codes.c.user_id == user_id,
                _codes.c.code_hash
                == recovery_codes.code_hash(secret.derive(RECOVERY_CODE_KEY_LABEL), normalised),
                _codes.c.used_at.is_(None),
            )
            .values(used_at=now)
            .returning(_codes.c.id)
        )
        if spent.one_or_none() is not None:
            return SecondFactor.recovery_code
    raise code_invalid()


# The sign-in challenge


async def create_challenge(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    via: ChallengeVia,
    remember_me: bool,
    settings: Settings,
) -> Challenge:
    now = utc_now()
    token = new_token()
    # The user's finished and expired challenges are of no further use.
    await session.execute(
        delete(_challenges).where(
            _challenges.c.user_id == user_id,
            or_(_challenges.c.used_at.is_not(None), _challenges.c.expires_at <= now),
        )
    )
    ttl = settings.two_factor_challenge_ttl_seconds
    await session.execute(
        insert(_challenges).values(
            id=uuid.uuid4(),
            token_hash=token_hash(token),
            user_id=user_id,
            via=via.value,
            remember_me=remember_me,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    return Challenge(token=token, expires_in=ttl)


async def open_challenge(
    session: AsyncSession, *, token: str | None, via: ChallengeVia
) -> TwoFactorChallenge:
    """The live challenge ``token`` names, locked for this attempt; else
    ``challenge_invalid`` (unknown, from the other sign-in route, used, expired, or
    worn out by wrong codes)."""
    if not token or len(token) > MAX_REFRESH_TOKEN_LENGTH:
        raise challenge_invalid()
    row = (
        await session.execute(
            select(TwoFactorChallenge)
            .where(TwoFactorChallenge.token_hash == token_hash(token))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if (
        row is None
        or row.via != via.value
        or row.used_at is not None
        or row.expires_at <= utc_now()
        or row.failed_attempts >= MAX_CHALLENGE_FAILURES
    ):
        raise challenge_invalid()
    return row


# Step-up


def step_up_required(settings: Settings) -> AppError:
    minutes = settings.step_up_window_seconds // 60
    return AppError(
        ErrorCode.STEP_UP_REQUIRED,
        f"Confirm it's you to continue: this needs a sign-in from the last {minutes} minutes.",
        403,
    )


def is_recent(user: AuthUser, settings: Settings, now: datetime | None = None) -> bool:
    if user.authenticated_at is None:
        return False
    window = timedelta(seconds=settings.step_up_window_seconds)
    return (now or utc_now()) - user.authenticated_at <= window


async def mark_authenticated(session: AsyncSession, *, session_id: uuid.UUID) -> None:
    await session.execute(
        update(_sessions).where(_sessions.c.id == session_id).values(authenticated_at=utc_now())
    )

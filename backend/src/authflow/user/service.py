"""Creating and finding users. Never commits: the request's session does."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from authflow.config import Settings
from authflow.errors import AppError, ErrorCode, FieldError
from authflow.kit.password_policy import check_password
from authflow.kit.passwords import PasswordHasher
from authflow.kit.text import identifier_key
from authflow.models import User

_users = cast(Table, User.__table__)


def _taken(field: str) -> AppError:
    if field == "email":
        return AppError(
            ErrorCode.EMAIL_TAKEN,
            "An account with this email address already exists.",
            409,
            errors=[FieldError(field="email", message="Already in use", code="taken")],
        )
    return AppError(
        ErrorCode.USERNAME_TAKEN,
        "This username is taken.",
        409,
        errors=[FieldError(field="username", message="Already taken", code="taken")],
    )


def require_acceptable_password(
    password: str,
    *,
    settings: Settings,
    username: str | None,
    email: str | None,
    field: str = "password",
) -> None:
    """The password policy, as a 422 naming ``field``."""
    problem = check_password(
        password,
        min_length=settings.password_min_length,
        max_length=settings.password_max_length,
        username=username,
        email=email,
    )
    if problem is not None:
        raise AppError(
            problem.code,
            problem.message,
            422,
            errors=[FieldError(field=field, message=problem.message, code=problem.code)],
        )


class UserService:
    async def create(
        self,
        session: AsyncSession,
        *,
        username: str,
        password: str,
        email: str | None,
        full_name: str | None,
        settings: Settings,
        hasher: PasswordHasher,
    ) -> User:
        require_acceptable_password(password, settings=settings, username=username, email=email)
        username_key = identifier_key(username)
        email_key = identifier_key(email) if email else None
        # Hash before the first query: the request's transaction (and its pooled
        # connection) must not be held open while waiting for a hash slot.
        hashed_password = await hasher.hash(password)

        # Checked up front for a clear answer; the unique indexes below settle races.
        clashes = await session.execute(
            select(User.username_key, User.email_key).where(
                or_(User.username_key == username_key, User.email_key == email_key)
                if email_key
                else User.username_key == username_key
            )
        )
        for row in clashes:
            raise _taken("username" if row.username_key == username_key else "email")

        user = User(
            username=username,
            username_key=username_key,
            email=email,
            email_key=email_key,
            full_name=full_name,
            hashed_password=hashed_password,
        )
        try:
            async with session.begin_nested():
                session.add(user)
        except IntegrityError as exc:
            raise _taken("email" if "email" in str(exc.orig) else "username") from None
        return user

    async def get_by_login(self, conn: AsyncConnection, login: str) -> User | None:
        """Find by username or email: usernames can't contain '@', so at most one matches.

        Returns a detached ``User`` built from one Core query (login is a hot path); to
        change the user, update it by id in the request's transaction.
        """
        key = identifier_key(login)
        column = _users.c.email_key if "@" in key else _users.c.username_key
        row = (await conn.execute(select(_users).where(column == key))).one_or_none()
        return User(**row._asdict()) if row is not None else None


user = UserService()

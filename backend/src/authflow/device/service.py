"""The "new sign-in" notice: the first sign-in from a browser or client an account has
not used before sends an email naming it, with a link to the sessions list.

A browser is known by its device cookie (see cookies.py), an OAuth2 client of /token,
which keeps no cookies, by its User-Agent. Only SHA-256 hashes are stored.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Boolean, Table, exists, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from authflow.config import Settings
from authflow.email import templates
from authflow.email.outbox import enqueue
from authflow.email.service import web_url
from authflow.kit.client import ClientInfo
from authflow.kit.clock import utc_now
from authflow.kit.tokens import token_hash
from authflow.kit.user_agent import describe
from authflow.models import User, UserDevice

NOTICE_KIND = "new_sign_in"
# The User-Agent is the client's to choose, and ua-parser takes an Android model name of
# up to ~100 characters as the device: enough room for a sentence in our own email.
NAME_LIMIT = 60

_devices = cast(Table, UserDevice.__table__)
# PostgreSQL leaves xmax at 0 on a row this statement inserted and sets it on a row the
# ON CONFLICT branch updated: "was it new?" in the same round trip.
_INSERTED = literal_column("(xmax = 0)", Boolean)


def browser_device_hash(device_token: str) -> str:
    return token_hash(device_token)


def client_device_hash(user_agent: str | None) -> str:
    # "ua:" cannot start a device token (no ':' in URL-safe base64), so the two kinds of
    # key never collide.
    return token_hash("ua:" + (user_agent or ""))


def _short(name: str) -> str:
    return name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…"


class DeviceService:
    async def record_sign_in(
        self,
        session: AsyncSession,
        *,
        user: User,
        device_hash: str,
        client: ClientInfo,
        settings: Settings,
        notify: bool = True,
    ) -> bool:
        """Remember the device this sign-in came from, in the sign-in's transaction. If it
        is new and the account has signed in from somewhere else before, queue the notice
        (``notify=False`` for sign-up, whose browser is the account's first). Returns
        whether a notice was queued.

        One statement for a known device; a new one adds one indexed EXISTS.
        """
        now = utc_now()
        row = insert(_devices).values(
            user_id=user.id, device_hash=device_hash, first_seen_at=now, last_seen_at=now
        )
        upsert = row.on_conflict_do_update(
            index_elements=[_devices.c.user_id, _devices.c.device_hash],
            set_={"last_seen_at": row.excluded.last_seen_at},
        ).returning(_INSERTED)
        # Concurrent first sign-ins from one device: the second waits on the first's
        # row, then updates it, so only one of them sees it as new.
        inserted = (await session.execute(upsert)).scalar_one()
        if not inserted or not notify or user.email is None:
            return False
        # No other device: the account's first sign-in (a tutorial /users/ account, or
        # one from before devices were recorded). Nothing to compare with, no notice.
        seen_elsewhere = (
            await session.execute(
                select(
                    exists().where(
                        _devices.c.user_id == user.id, _devices.c.device_hash != device_hash
                    )
                )
            )
        ).scalar_one()
        if not seen_elsewhere:
            return False
        browser, device = describe(client.user_agent)
        message = templates.new_sign_in(
            product=settings.product_name,
            to_address=user.email,
            username=user.username,
            browser=_short(browser),
            device=_short(device),
            ip=client.ip or "unknown",
            when=templates.when(now),
            sessions_link=web_url(settings, "/account#sessions"),
        )
        await enqueue(session, message, kind=NOTICE_KIND)
        return True


device = DeviceService()

"""Throttling policy: how many failures or hits each key gets, and what happens after.

Failures (wrong passwords, dead links) earn a progressive delay: after ``free`` of them
each further attempt must wait base × 2^(n − free) seconds, at most ``max_seconds``,
counted from the last failure; the count is forgotten ``forget_after`` seconds after the
last failure. A key is never locked for good, with one exception NIST 800-63B 5.2.2 asks
for: after ``login_max_consecutive_failures`` on one login name, sign-in stays refused
until a password reset (or an admin) clears it. Rate limits count hits in fixed windows.

Every answer is the same ``429 TOO_MANY_REQUESTS`` with ``Retry-After``, whichever key
tripped, and login names count whether or not an account uses them, so a throttled
answer tells nothing about accounts.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from authflow.config import Settings
from authflow.errors import AppError, ErrorCode
from authflow.kit.clock import utc_now
from authflow.throttle.keys import ip_key, login_key, pair_key
from authflow.throttle.store import Failures, ThrottleStore

TOKEN_FAILURES = frozenset(
    {ErrorCode.EMAIL_TOKEN_INVALID, ErrorCode.EMAIL_TOKEN_EXPIRED, ErrorCode.EMAIL_TOKEN_USED}
)
HOUR = 3600
DAY = 86400


@dataclass(frozen=True, slots=True)
class FailureRule:
    free: int
    base_seconds: float
    max_seconds: int
    forget_after: int

    def wait(self, failures: Failures, now: datetime) -> float:
        """Seconds until the next attempt is allowed (0: now)."""
        if failures.count < self.free:
            return 0.0
        delay = min(self.base_seconds * 2 ** (failures.count - self.free), self.max_seconds)
        return max(0.0, (failures.last_at + timedelta(seconds=delay) - now).total_seconds())


@dataclass(frozen=True, slots=True)
class RateRule:
    max_hits: int
    window_seconds: int


def too_many(wait_seconds: float) -> AppError:
    wait = max(1, math.ceil(wait_seconds))
    return AppError(
        ErrorCode.TOO_MANY_REQUESTS,
        f"Too many attempts. Try again in {wait} seconds.",
        429,
        headers={"Retry-After": str(wait)},
    )


def login_locked() -> AppError:
    return AppError(
        ErrorCode.LOGIN_LOCKED,
        "Too many failed sign-ins. Reset your password by email to sign in again.",
        429,
    )


class Throttle:
    def __init__(
        self,
        store: ThrottleStore,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
        on_refused: Callable[[str, str | None], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self._clock = clock
        # Told (action, client ip) of every refusal, for the audit trail.
        self._on_refused = on_refused
        self._max_login_failures = settings.login_max_consecutive_failures

        def rule(free: int, forget_after: int) -> FailureRule:
            return FailureRule(
                free=free,
                base_seconds=settings.throttle_base_delay_seconds,
                max_seconds=settings.throttle_max_delay_seconds,
                forget_after=forget_after,
            )

        self._login_rules = {
            "ip": rule(settings.login_free_failures_per_ip, HOUR),
            # A day: long enough that a slow attack from many addresses still adds up
            # to the consecutive-failure cap.
            "login": rule(settings.login_free_failures_per_account, DAY),
            "pair": rule(settings.login_free_failures_per_pair, HOUR),
        }
        self._token_rule = rule(settings.token_free_failures_per_ip, HOUR)
        self.rates = {
            "signup": RateRule(settings.signup_per_ip_per_hour, HOUR),
            "forgot-password": RateRule(settings.forgot_password_per_ip_per_hour, HOUR),
            "refresh": RateRule(settings.refresh_per_ip_per_minute, 60),
        }

    # Sign-in

    def _login_keys(
        self, ip: str | None, login: str, action: str = "login"
    ) -> dict[str, FailureRule]:
        return {
            ip_key(action, ip): self._login_rules["ip"],
            login_key(action, login): self._login_rules["login"],
            pair_key(action, ip, login): self._login_rules["pair"],
        }

    async def check_login(self, *, ip: str | None, login: str) -> None:
        """Before any password is checked: refuse while a key is waiting out a delay."""
        keys = self._login_keys(ip, login)
        now = self._clock()
        state = await self.store.failures(list(keys), now=now)
        account = state.get(login_key("login", login))
        if account is not None and account.count >= self._max_login_failures:
            await self._refused("login", ip)
            raise login_locked()
        await self._refuse_while_waiting("login", ip, keys, state, now)

    async def login_failed(self, *, ip: str | None, login: str) -> None:
        keys = self._login_keys(ip, login)
        await self.store.add_failure(
            {key: rule.forget_after for key, rule in keys.items()}, now=self._clock()
        )

    async def login_succeeded(self, *, ip: str | None, logins: list[str]) -> None:
        """Clear the account's counts under every name it signs in with. The address's
        count stays: one right guess among many wrong ones is still spraying."""
        keys = [login_key("login", name) for name in logins]
        keys += [pair_key("login", ip, name) for name in logins]
        await self.store.clear(keys)

    # Second factor: codes are counted like passwords, under the account's id, but have
    # no hard cap; only someone who has the password gets to try them, and each
    # challenge dies after a few wrong codes.

    async def check_code(self, *, ip: str | None, user_id: uuid.UUID) -> None:
        keys = self._login_keys(ip, str(user_id), "2fa")
        now = self._clock()
        state = await self.store.failures(list(keys), now=now)
        await self._refuse_while_waiting("2fa", ip, keys, state, now)

    async def code_failed(self, *, ip: str | None, user_id: uuid.UUID) -> None:
        keys = self._login_keys(ip, str(user_id), "2fa")
        await self.store.add_failure(
            {key: rule.forget_after for key, rule in keys.items()}, now=self._clock()
        )

    async def code_succeeded(self, *, ip: str | None, user_id: uuid.UUID) -> None:
        account = str(user_id)
        await self.store.clear([login_key("2fa", account), pair_key("2fa", ip, account)])

    async def account_recovered(self, *, logins: Iterable[str]) -> None:
        """A password reset (or an admin) lifts the consecutive-failure cap."""
        await self.store.clear([login_key("login", name) for name in logins])

    # Links and codes

    async def check_token(self, *, ip: str | None) -> None:
        key = ip_key("token", ip)
        now = self._clock()
        state = await self.store.failures([key], now=now)
        await self._refuse_while_waiting("token", ip, {key: self._token_rule}, state, now)

    async def token_failed(self, *, ip: str | None) -> None:
        await self.store.add_failure(
            {ip_key("token", ip): self._token_rule.forget_after}, now=self._clock()
        )

    @asynccontextmanager
    async def guarding_token(self, *, ip: str | None) -> AsyncIterator[None]:
        """Around a link check: refused while the address waits out a delay, and a dead
        link counts against it."""
        await self.check_token(ip=ip)
        try:
            yield
        except AppError as exc:
            if exc.code in TOKEN_FAILURES:
                await self.token_failed(ip=ip)
            raise

    # Rates

    async def limit(self, action: str, *, ip: str | None) -> None:
        rule = self.rates[action]
        now = self._clock()
        hits = await self.store.hit(ip_key(action, ip), window_seconds=rule.window_seconds, now=now)
        if hits.count > rule.max_hits:
            await self._refused(action, ip)
            raise too_many((hits.window_end - now).total_seconds())

    async def _refuse_while_waiting(
        self,
        action: str,
        ip: str | None,
        keys: dict[str, FailureRule],
        state: dict[str, Failures],
        now: datetime,
    ) -> None:
        wait = max((keys[key].wait(failures, now) for key, failures in state.items()), default=0)
        if wait > 0:
            await self._refused(action, ip)
            raise too_many(wait)

    async def _refused(self, action: str, ip: str | None) -> None:
        if self._on_refused is not None:
            await self._on_refused(action, ip)

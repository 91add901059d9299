"""The policy over a real store, with a clock the test moves."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from authflow.config import Settings
from authflow.errors import AppError
from authflow.kit.clock import utc_now
from authflow.throttle.service import Throttle
from authflow.throttle.store import ThrottleStore


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def throttle(store: ThrottleStore, settings: Settings, clock: Clock) -> Throttle:
    tuned = settings.model_copy(
        update={
            "login_free_failures_per_pair": 3,
            "login_free_failures_per_account": 5,
            "login_free_failures_per_ip": 8,
            "throttle_base_delay_seconds": 2.0,
            "throttle_max_delay_seconds": 30,
            "login_max_consecutive_failures": 12,
            "signup_per_ip_per_hour": 2,
        }
    )
    return Throttle(store, tuned, clock=clock)


async def refused(check: object) -> AppError:
    with pytest.raises(AppError) as caught:
        await check  # type: ignore[misc]
    return caught.value


IP = "203.0.113.7"


async def test_the_delay_starts_after_the_free_failures_and_doubles(
    throttle: Throttle, clock: Clock
) -> None:
    for _ in range(3):
        await throttle.check_login(ip=IP, login="alice")
        await throttle.login_failed(ip=IP, login="alice")
    error = await refused(throttle.check_login(ip=IP, login="alice"))
    assert (error.status_code, error.code) == (429, "TOO_MANY_REQUESTS")
    assert error.headers == {"Retry-After": "2"}
    clock.advance(2)
    await throttle.check_login(ip=IP, login="alice")
    await throttle.login_failed(ip=IP, login="alice")
    assert (await refused(throttle.check_login(ip=IP, login="alice"))).headers == {
        "Retry-After": "4"
    }
    clock.advance(4)
    await throttle.login_failed(ip=IP, login="alice")
    clock.advance(1)
    assert (await refused(throttle.check_login(ip=IP, login="alice"))).headers == {
        "Retry-After": "7"
    }


async def test_the_delay_is_capped(throttle: Throttle, clock: Clock) -> None:
    for _ in range(11):
        await throttle.login_failed(ip=IP, login="bob")
    assert (await refused(throttle.check_login(ip=IP, login="bob"))).headers == {
        "Retry-After": "30"
    }
    clock.advance(30)
    await throttle.check_login(ip=IP, login="bob")


async def test_a_success_clears_the_account_but_not_the_address(
    throttle: Throttle, clock: Clock
) -> None:
    for _ in range(4):
        await throttle.login_failed(ip=IP, login="carol")
    await throttle.login_succeeded(ip=IP, logins=["carol", "carol@example.com"])
    await throttle.check_login(ip=IP, login="carol")
    # The address had 4 failures; 4 more on other names reach its limit of 8.
    for name in ("d1", "d2", "d3", "d4"):
        await throttle.login_failed(ip=IP, login=name)
    error = await refused(throttle.check_login(ip=IP, login="someone-else"))
    assert error.code == "TOO_MANY_REQUESTS"
    # Another address is not affected.
    await throttle.check_login(ip="198.51.100.1", login="someone-else")


async def test_many_addresses_against_one_account_add_up(throttle: Throttle) -> None:
    for i in range(5):
        await throttle.login_failed(ip=f"198.51.100.{i}", login="dave")
    error = await refused(throttle.check_login(ip="198.51.100.99", login="dave"))
    assert error.code == "TOO_MANY_REQUESTS"


async def test_the_consecutive_failure_cap_holds_until_recovery(
    throttle: Throttle, clock: Clock
) -> None:
    for i in range(12):
        await throttle.login_failed(ip=f"198.51.100.{i}", login="erin")
    clock.advance(3600)
    error = await refused(throttle.check_login(ip="192.0.2.1", login="erin"))
    assert (error.status_code, error.code) == (429, "LOGIN_LOCKED")
    # A success would not get the chance; a reset lifts it.
    await throttle.account_recovered(logins=["erin", "erin@example.com"])
    await throttle.check_login(ip="192.0.2.1", login="erin")


async def test_unknown_and_known_names_are_treated_alike(throttle: Throttle) -> None:
    # The throttle never looks accounts up: any name is counted the same way.
    answers = []
    for name in ("real-user", "nobody-at-all"):
        for _ in range(3):
            await throttle.login_failed(ip=IP, login=name)
        error = await refused(throttle.check_login(ip=IP, login=name))
        answers.append((error.status_code, error.code, error.detail, error.headers))
    assert answers[0] == answers[1]


async def test_rates_refuse_over_the_limit_until_the_window_ends(
    throttle: Throttle, clock: Clock
) -> None:
    await throttle.limit("signup", ip=IP)
    await throttle.limit("signup", ip=IP)
    error = await refused(throttle.limit("signup", ip=IP))
    assert error.code == "TOO_MANY_REQUESTS"
    assert assert_retry_after(error) <= 3600
    await throttle.limit("signup", ip="2001:db8::1")
    clock.advance(3600)
    await throttle.limit("signup", ip=IP)


def assert_retry_after(error: AppError) -> int:
    assert error.headers is not None
    value = int(error.headers["Retry-After"])
    assert value >= 1
    return value


async def test_dead_links_from_one_address_slow_that_address_down(
    throttle: Throttle, settings: Settings
) -> None:
    for _ in range(settings.token_free_failures_per_ip):
        await throttle.check_token(ip=IP)
        await throttle.token_failed(ip=IP)
    assert (await refused(throttle.check_token(ip=IP))).code == "TOO_MANY_REQUESTS"
    await throttle.check_token(ip="198.51.100.1")

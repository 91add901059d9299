"""Who the client is: X-Forwarded-For believed only from a trusted proxy."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from authflow.auth.dependencies import client_ip

PROXY = ("127.0.0.1", "10.0.0.0/8")
PASSWORD = "correct horse battery staple"


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip("203.0.113.7", ["1.2.3.4"], ()) == "203.0.113.7"


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip("203.0.113.7", ["1.2.3.4"], PROXY) == "203.0.113.7"


def test_through_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() -> None:
    assert client_ip("127.0.0.1", ["198.51.100.9"], PROXY) == "198.51.100.9"
    # The client prepended a lie; the proxy appended what it saw.
    assert client_ip("127.0.0.1", ["1.2.3.4, 198.51.100.9"], PROXY) == "198.51.100.9"
    # Two proxies of ours in a row.
    assert client_ip("127.0.0.1", ["1.2.3.4", "198.51.100.9, 10.1.2.3"], PROXY) == "198.51.100.9"
    assert client_ip("127.0.0.1", ["2001:db8::1"], PROXY) == "2001:db8::1"


def test_garbage_or_no_header_stops_at_the_last_hop_we_trust() -> None:
    assert client_ip("127.0.0.1", [], PROXY) == "127.0.0.1"
    assert client_ip("127.0.0.1", ["<script>, 10.1.2.3"], PROXY) == "10.1.2.3"
    assert client_ip("127.0.0.1", ["x" * 5000], PROXY) == "127.0.0.1"
    assert client_ip("not-an-ip", ["1.2.3.4"], PROXY) is None


async def test_the_session_records_the_address_the_settings_allow(
    make_app: Callable[..., FastAPI], engine: AsyncEngine
) -> None:
    cases = [
        ([], "127.0.0.1", "127.0.0.1"),
        (["127.0.0.1"], "127.0.0.1", "198.51.100.9"),
        (["127.0.0.1"], "203.0.113.7", "203.0.113.7"),
    ]
    for n, (trusted, peer, expected) in enumerate(cases):
        app = make_app(trusted_proxies=trusted)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=(peer, 5000))
            async with httpx.AsyncClient(transport=transport, base_url="https://t") as c:
                account = {"username": f"proxied{n}", "password": PASSWORD}
                assert (await c.post("/users/", json=account)).status_code == 200
                r = await c.post(
                    "/token", data=account, headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.9"}
                )
                assert r.status_code == 200
        async with engine.begin() as conn:
            ip = (await conn.execute(text("SELECT ip FROM user_sessions"))).scalar_one()
            await conn.execute(text("DELETE FROM user_sessions"))
        assert ip == expected

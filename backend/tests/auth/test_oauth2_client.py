"""/token driven by a standard OAuth2 client library (authlib), not hand-written requests."""

from __future__ import annotations

import warnings

import httpx
from fastapi import FastAPI

from tests.conftest import AccountFactory

PASSWORD = "correct horse battery staple"


async def test_password_then_refresh_grant_with_authlib(
    app: FastAPI, accounts: AccountFactory
) -> None:
    # authlib installs its own "always show" filter for its deprecation notices, so a
    # pytest filter cannot silence the one its httpx integration prints on import.
    with warnings.catch_warnings():
        import authlib.deprecate  # noqa: F401  (installs that filter first)

        warnings.simplefilter("ignore")
        from authlib.integrations.httpx_client import AsyncOAuth2Client

    account = await accounts.signup()
    async with AsyncOAuth2Client(
        client_id="cli",
        token_endpoint_auth_method="none",
        transport=httpx.ASGITransport(app=app),
        base_url="https://testserver",
    ) as oauth:
        token = await oauth.fetch_token(
            "https://testserver/token",
            grant_type="password",
            username=account["username"],
            password=PASSWORD,
        )
        assert token["token_type"] == "bearer"
        assert token["refresh_token"]
        me = await oauth.get("/users/me/")
        assert me.status_code == 200
        assert me.json()["username"] == account["username"]

        refreshed = await oauth.refresh_token(
            "https://testserver/token", refresh_token=token["refresh_token"]
        )
        assert refreshed["access_token"] != token["access_token"]
        assert refreshed["refresh_token"] != token["refresh_token"]
        assert (await oauth.get("/users/me/")).status_code == 200

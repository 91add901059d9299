"""/api/notes: owner-only CRUD."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import AccountFactory


class TestNotes:
    async def test_crud(self, client: httpx.AsyncClient, accounts: AccountFactory) -> None:
        _, headers = await accounts.bearer()
        r = await client.post("/api/notes", json={"text": "first"}, headers=headers)
        assert r.status_code == 201
        first = r.json()
        assert first["completed"] is False
        await client.post("/api/notes", json={"text": "second\nline"}, headers=headers)

        listed = (await client.get("/api/notes", headers=headers)).json()
        assert [n["text"] for n in listed] == ["second\nline", "first"]

        r = await client.patch(
            f"/api/notes/{first['id']}", json={"completed": True}, headers=headers
        )
        assert r.status_code == 200
        assert r.json()["completed"] is True
        assert r.json()["text"] == "first"
        r = await client.patch(
            f"/api/notes/{first['id']}", json={"text": "renamed"}, headers=headers
        )
        assert r.json()["text"] == "renamed"

        assert (
            await client.delete(f"/api/notes/{first['id']}", headers=headers)
        ).status_code == 204
        r = await client.delete(f"/api/notes/{first['id']}", headers=headers)
        assert r.status_code == 404
        assert r.json()["code"] == "NOTE_NOT_FOUND"
        assert len((await client.get("/api/notes", headers=headers)).json()) == 1

    async def test_other_users_note_is_404(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        _, alice = await accounts.bearer()
        _, bob = await accounts.bearer()
        note = (await client.post("/api/notes", json={"text": "alice's"}, headers=alice)).json()
        for method, kwargs in (
            ("PATCH", {"json": {"completed": True}}),
            ("DELETE", {}),
        ):
            r = await client.request(method, f"/api/notes/{note['id']}", headers=bob, **kwargs)  # type: ignore[arg-type]
            assert r.status_code == 404
            assert r.json()["code"] == "NOTE_NOT_FOUND"
        assert (await client.get("/api/notes", headers=bob)).json() == []
        still = (await client.get("/api/notes", headers=alice)).json()
        assert still[0]["completed"] is False

    async def test_requires_auth(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/api/notes")).status_code == 401
        assert (await client.post("/api/notes", json={"text": "x"})).status_code == 401

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"text": ""},
            {"text": "x" * 1001},
            {"text": None},
            {"text": 5},
            {"text": "a\u0000"},
            {"text": "bell\u0007"},
        ],
    )
    async def test_bad_create_bodies(
        self, client: httpx.AsyncClient, accounts: AccountFactory, body: dict[str, object]
    ) -> None:
        _, headers = await accounts.bearer()
        r = await client.post("/api/notes", json=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "VALIDATION_ERROR"
        assert (await client.get("/api/notes", headers=headers)).json() == []

    async def test_lone_surrogate_is_422(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        _, headers = await accounts.bearer()
        r = await client.post(
            "/api/notes",
            content=b'{"text": "\\udfff"}',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 422

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"completed": "yes"},
            {"completed": 1},
            {"text": ""},
            {"completed": None, "text": None},
        ],
    )
    async def test_bad_update_bodies(
        self, client: httpx.AsyncClient, accounts: AccountFactory, body: dict[str, object]
    ) -> None:
        _, headers = await accounts.bearer()
        note = (await client.post("/api/notes", json={"text": "keep"}, headers=headers)).json()
        r = await client.patch(f"/api/notes/{note['id']}", json=body, headers=headers)
        assert r.status_code == 422
        assert (await client.get("/api/notes", headers=headers)).json()[0]["text"] == "keep"

    @pytest.mark.parametrize("note_id", ["not-a-uuid", "1", "' OR 1=1 --", "%00"])
    async def test_bad_ids(
        self, client: httpx.AsyncClient, accounts: AccountFactory, note_id: str
    ) -> None:
        _, headers = await accounts.bearer()
        r = await client.delete(f"/api/notes/{note_id}", headers=headers)
        assert r.status_code == 422
        r = await client.delete(f"/api/notes/{uuid.uuid4()}", headers=headers)
        assert r.status_code == 404

    async def test_markup_is_stored_verbatim(
        self, client: httpx.AsyncClient, accounts: AccountFactory
    ) -> None:
        _, headers = await accounts.bearer()
        text = "<img src=x onerror=alert(1)> & 'quotes' \"double\""
        r = await client.post("/api/notes", json={"text": text}, headers=headers)
        assert r.json()["text"] == text

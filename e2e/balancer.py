"""A round-robin HTTP load balancer for the browser tests: the web app's /api rewrite points
here, and each request (not each connection) goes to the next API instance in turn, so one
browser's consecutive requests land on different instances.

Run as ``python e2e/balancer.py --port PORT http://127.0.0.1:A http://127.0.0.1:B``.
``GET /__balancer/counts`` answers how many requests each instance got, as
``{"a": n, "b": m}`` (instances named a, b, c... in the order given); it is never forwarded.
"""

from __future__ import annotations

import argparse
import itertools
import json
import string
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

COUNTS_PATH = "/__balancer/counts"
# RFC 9110 7.6.1: these describe one connection, not the message, so no proxy forwards them.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


def _end_to_end(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }
    return [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP and n.lower() not in named]


class Balancer:
    def __init__(self, backends: list[str]) -> None:
        names = list(string.ascii_lowercase[: len(backends)])
        self.backends = dict(zip(names, backends, strict=True))
        self.counts = dict.fromkeys(names, 0)
        self._next = itertools.cycle(names)
        # No proxy from the environment, no cookie jar or redirects of its own: the
        # browser's requests and the API's answers pass through unchanged.
        self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=60)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == COUNTS_PATH:
            body = json.dumps(self.counts).encode()
            await _respond(send, 200, body, b"application/json")
            return
        # Buffered: the API's request bodies are small, and a complete body can be replayed
        # nowhere else anyway (no retries here: a failed request fails, as it should).
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)

        headers = _end_to_end(list(scope["headers"]))
        peer = scope["client"][0] if scope.get("client") else None
        if peer is not None:
            # Appended as any proxy does; the API trusts 127.0.0.1 and walks past it.
            forwarded = [v for n, v in headers if n.lower() == b"x-forwarded-for"]
            headers = [(n, v) for n, v in headers if n.lower() != b"x-forwarded-for"]
            headers.append((b"x-forwarded-for", b", ".join([*forwarded, peer.encode()])))

        name = next(self._next)
        self.counts[name] += 1
        # raw_path keeps the browser's percent-encoding; path is already decoded.
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        target = self.backends[name] + raw_path.decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        # Built directly rather than with client.build_request: that would add the client's
        # default headers (Accept-Encoding among them) to what the browser sent.
        request = httpx.Request(scope["method"], target, headers=headers, content=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await _respond(send, 502, f"balancer: {name}: {exc!r}\n".encode(), b"text/plain")
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    # Raw, in order and undecoded: every Set-Cookie stays its own header, and
                    # the body below is the bytes the API sent, so Content-Encoding and
                    # Content-Length still describe it.
                    "headers": _end_to_end(list(response.headers.raw)),
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description="Round-robin HTTP load balancer for the e2e tests")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("backends", nargs="+", help="base URLs, e.g. http://127.0.0.1:8001")
    args = parser.parse_args()
    uvicorn.run(
        Balancer([b.rstrip("/") for b in args.backends]),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        # The peer is what the balancer appends; uvicorn must not replace it with what the
        # web app's X-Forwarded-For claims.
        proxy_headers=False,
        # The API's own Date and Server headers are forwarded; no second copy.
        server_header=False,
        date_header=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()

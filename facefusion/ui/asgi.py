"""What the app's ASGI middleware share: which requests they look at, reading a body, answering."""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOCAL_ADDRESSES = ("127.0.0.1", "localhost", "::1")


def posted_path(scope: Scope) -> str | None:
    """The path of an HTTP POST (without a trailing slash); None for anything else."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    return str(scope.get("path", "")).rstrip("/")


def header(scope: Scope, name: str) -> str:
    wanted = name.lower().encode("latin-1")
    return next((value.decode("latin-1") for key, value in scope.get("headers", []) if key.lower() == wanted), "")


def client_address(scope: Scope) -> str:
    """The client's address; behind the share link's tunnel (or a local proxy) every request comes from
    this machine, and the address the proxy saw is the client's."""
    host = (scope.get("client") or ("unknown", 0))[0]
    if host in LOCAL_ADDRESSES:
        return header(scope, "x-forwarded-for").split(",")[0].strip() or host
    return host


async def read_body(receive: Receive) -> bytes:
    """The whole request body (an answer sent before it is read reaches clients as a reset connection)."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands ``body`` (already read) over again, then what ``receive`` gives."""
    delivered = False

    async def replay() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def answer(send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A JSON answer ``{"detail": ...}``, as the app's own errors are."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": json.dumps({"detail": detail}).encode()})

"""What the ASGI middleware of the app and the job API share: which requests they look at, the client's
address, counting a body as it streams in, answering."""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOCAL_ADDRESSES = ("127.0.0.1", "localhost", "::1")
logger = logging.getLogger("facefusion")


def posted_path(scope: Scope) -> str | None:
    """The path of an HTTP POST (without a trailing slash); None for anything else."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    return str(scope.get("path", "")).rstrip("/")


def header(scope: Scope, name: str) -> str:
    wanted = name.lower().encode("latin-1")
    return next((value.decode("latin-1") for key, value in scope.get("headers", []) if key.lower() == wanted), "")


def client_address(scope: Scope) -> str:
    """The client's address. Behind a proxy it is the address the proxy saw: uvicorn reads it from
    ``X-Forwarded-For`` only for the proxies the operator named (``--forwarded-allow-ips``; see
    ``trust_proxies``), taking the last address that is not one of them, so what a client writes at the front of
    the header is never believed."""
    return str((scope.get("client") or ("unknown", 0))[0])


def trust_proxies(addresses: str) -> None:
    """Tell uvicorn (which the web app's server runs on) which proxies' ``X-Forwarded-For`` to believe: by
    default it believes any client on this machine, which would let one set any address it likes."""
    os.environ["FORWARDED_ALLOW_IPS"] = addresses


async def answer(send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A JSON answer ``{"detail": ...}``, as the app's own errors are."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": json.dumps({"detail": detail}).encode()})


DRAIN_BYTES = 8 * 1024 * 1024
DRAIN_SECONDS = 5.0
"""A refused request's remaining body is read and dropped (never written) up to this much, so that an honest
client, which sends its whole body before it reads the answer, sees the answer instead of a reset connection;
a larger body gets the answer and a closed connection."""


async def counted(app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int, too_large: str,
                  name: str) -> int:
    """Run ``app`` with a body that ends (as a disconnect) once more than ``limit`` bytes arrived; the
    client then gets 413 with ``too_large`` and whatever the app tries to answer afterwards is dropped.
    Returns the bytes received (the app's own answer is not looked at)."""
    received = 0
    refused = False

    async def counting() -> dict[str, Any]:
        nonlocal received, refused
        if refused:
            return {"type": "http.disconnect"}
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            refused = True
            logger.warning("stopped an upload of %s after %d bytes (limit %d)", name, received, limit)
            if message.get("more_body"):
                await refuse(send, 413, too_large, receive=receive)
            else:
                await refuse(send, 413, too_large)
            return {"type": "http.disconnect"}
        return message

    async def guarded(message: dict[str, Any]) -> None:
        if not refused:
            await send(message)

    try:
        await app(scope, counting, guarded)
    except Exception:
        if not refused:
            raise
        # the app failed on the body we cut short: the client has its 413 already
    return received


async def refuse(send: Send, status: int, message: str, *headers: tuple[bytes, bytes],
                 receive: Receive | None = None) -> None:
    """Answer and close the connection; with ``receive``, what is left of the body is first read and dropped
    up to DRAIN_BYTES (nothing of it is kept)."""
    if receive is not None:
        await _drain(receive)
    await answer(send, status, message, (*headers, (b"connection", b"close")))


async def _drain(receive: Receive) -> None:
    drained = 0
    deadline = asyncio.get_running_loop().time() + DRAIN_SECONDS
    while drained <= DRAIN_BYTES:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return
        try:
            message = await asyncio.wait_for(receive(), left)
        except TimeoutError:
            return
        drained += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return

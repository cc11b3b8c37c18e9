"""The door in front of the upload route: nothing of a request body is read before its key is known and its
size is within the caller's limit.

FastAPI parses a multipart body (spooling it to disk) before a route's first line runs, so checks made in the
route come after the bytes were written. This ASGI layer answers first: 401 without a valid key, 413 when the
declared length is over the caller's limit, 429 when the caller has its limit of jobs waiting, and while the
body streams in it counts the bytes (a chunked upload declares no length) and stops at the limit.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from ..ui.asgi import ASGIApp, Receive, Scope, Send, answer, client_address, header
from .keys import Caller, caller_of

logger = logging.getLogger("facefusion")

FORM_ALLOWANCE = 256 * 1024
"""Bytes a request may carry beyond its files' limit: the multipart boundaries and the small form fields."""
DRAIN_BYTES = 8 * 1024 * 1024
DRAIN_SECONDS = 5.0
"""A refused request's remaining body is read and dropped (never written) up to this much, so that an honest
client, which sends its whole body before it reads the answer, sees the answer instead of a reset connection;
a larger body gets the answer and a closed connection."""
UNAUTHORISED = "give a valid API key: Authorization: Bearer KEY"


class UploadGate:
    """ASGI middleware for ``POST`` on ``paths``: the key, the declared size and the streamed size are checked
    before and while the body is read. ``admit(caller)`` may refuse a known caller before its body is read:
    it returns (status, message) or None."""

    def __init__(self, app: ASGIApp, keys: dict[str, Caller], upload_limit: int,
                 admit: Callable[[str], tuple[int, str] | None] | None = None,
                 paths: tuple[str, ...] = ("/v1/jobs",)) -> None:
        self.app, self.keys, self.upload_limit, self.admit, self.paths = app, keys, upload_limit, admit, paths

    def limit_of(self, name: str) -> int:
        return self.keys[name].max_upload_bytes or self.upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or \
                str(scope.get("path", "")).rstrip("/") not in self.paths:
            await self.app(scope, receive, send)
            return
        name = caller_of(header(scope, "authorization") or None, self.keys)
        if name is None:
            logger.warning("refused an upload without a valid key from %s", client_address(scope))
            await _refuse(send, 401, UNAUTHORISED, (b"www-authenticate", b"Bearer"), receive=receive)
            return
        limit = self.limit_of(name)
        too_large = f"the upload is larger than your limit of {limit} bytes"
        declared = header(scope, "content-length")
        if declared.isdigit() and int(declared) > limit + FORM_ALLOWANCE:
            logger.warning("refused %s bytes declared by %s (limit %d)", declared, name, limit)
            await _refuse(send, 413, too_large, receive=receive)
            return
        refusal = self.admit(name) if self.admit is not None else None
        if refusal is not None:
            await _refuse(send, *refusal, receive=receive)
            return
        await _counted(self.app, scope, receive, send, limit + FORM_ALLOWANCE, too_large, name)


async def _counted(app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int, too_large: str,
                   name: str) -> None:
    """Run ``app`` with a body that ends (as a disconnect) once more than ``limit`` bytes arrived; the
    caller then gets 413 and whatever the app tries to answer afterwards is dropped."""
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
                await _refuse(send, 413, too_large, receive=receive)
            else:
                await _refuse(send, 413, too_large)
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
        # the app failed on the body we cut short: the caller has its 413 already


async def _refuse(send: Send, status: int, message: str, *headers: tuple[bytes, bytes],
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
        except asyncio.TimeoutError:
            return
        drained += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return

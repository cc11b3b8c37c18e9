"""The door in front of the upload route: nothing of a request body is read before its key is known and its
size is within the caller's limit.

FastAPI parses a multipart body (spooling it to disk) before a route's first line runs, so checks made in the
route come after the bytes were written. This ASGI layer answers first: 401 without a valid key, 413 when the
declared length is over the caller's limit, 429 when the caller has its limit of jobs waiting, and while the
body streams in it counts the bytes (a chunked upload declares no length) and stops at the limit.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from ..ui.asgi import ASGIApp, Receive, Scope, Send, client_address, counted, header, refuse
from .keys import Caller, caller_of

logger = logging.getLogger("facefusion")

FORM_ALLOWANCE = 256 * 1024
"""Bytes a request may carry beyond its files' limit: the multipart boundaries and the small form fields."""
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
            await refuse(send, 401, UNAUTHORISED, (b"www-authenticate", b"Bearer"), receive=receive)
            return
        limit = self.limit_of(name)
        too_large = f"the upload is larger than your limit of {limit} bytes"
        declared = header(scope, "content-length")
        if declared.isdigit() and int(declared) > limit + FORM_ALLOWANCE:
            logger.warning("refused %s bytes declared by %s (limit %d)", declared, name, limit)
            await refuse(send, 413, too_large, receive=receive)
            return
        refusal = self.admit(name) if self.admit is not None else None
        if refusal is not None:
            await refuse(send, *refusal, receive=receive)
            return
        await counted(self.app, scope, receive, send, limit + FORM_ALLOWANCE, too_large, name)

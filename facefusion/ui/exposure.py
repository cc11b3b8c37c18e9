"""What changes when the web app is reachable by others (``--share``, a Space, a non-local address).

Exposed, the app answers the page's own events only to its page, lets no visitor make the server
download models (unless the operator allows it),
slows down and locks out repeated wrong passwords per client, and never shows a server path in a
message: only the user's own file name. Everywhere, uploads live only as long as the request or the
page session that made them, and all of them together stay within a disk budget.
"""
from __future__ import annotations

import asyncio
import json
import os
import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

logger = logging.getLogger("facefusion")

LOCAL_ADDRESSES = ("127.0.0.1", "localhost", "::1")


def is_exposed(server_name: str, share: bool, on_space: bool) -> bool:
    """Whether people other than the one at this computer can reach the app."""
    return share or on_space or server_name not in LOCAL_ADDRESSES


@dataclass
class LoginPolicy:
    delay: float = 1.0
    """Seconds every wrong password waits before it is answered (a script tries 1 a second, not 20)."""
    attempts: int = 5
    """Wrong passwords from one client within ``window`` seconds before it is locked out."""
    window: float = 900.0
    lockout: float = 900.0


@dataclass
class _Client:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class LoginThrottle:
    """ASGI middleware in front of Gradio's ``/login``: each wrong password is answered late, and a client
    with too many of them gets 429 until its lockout ends. Every failure and lockout is logged."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], policy: LoginPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.policy = policy or LoginPolicy()
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def _client_of(scope: Scope) -> str:
        host = (scope.get("client") or ("unknown", 0))[0]
        if host in LOCAL_ADDRESSES:
            # Behind the share link's tunnel (or a local proxy) every request comes from this machine:
            # the address the proxy saw is the client's.
            for name, value in scope.get("headers", []):
                if name == b"x-forwarded-for":
                    return value.decode("latin-1").split(",")[0].strip() or host
        return host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").rstrip("/").endswith(
                "/login"):
            await self.app(scope, receive, send)
            return
        client = self._client_of(scope)
        now = self.clock()
        async with self._lock:
            state = self._clients.setdefault(client, _Client())
            if state.locked_until > now:
                wait = int(state.locked_until - now) + 1
                logger.warning("login refused for %s: locked out for %d more second(s)", client, wait)
                await _refuse(send, wait)
                return
        status: list[int] = []

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                if message["status"] >= 400:
                    await asyncio.sleep(self.policy.delay)
            await send(message)

        await self.app(scope, receive, watch)
        async with self._lock:
            state = self._clients.setdefault(client, _Client())
            if status and status[0] < 400:
                state.failures.clear()
                return
            state.failures.append(now)
            while state.failures and state.failures[0] < now - self.policy.window:
                state.failures.popleft()
            logger.warning("wrong login from %s (%d in the last %d minute(s))", client, len(state.failures),
                           int(self.policy.window // 60))
            if len(state.failures) >= self.policy.attempts:
                state.locked_until = now + self.policy.lockout
                state.failures.clear()
                logger.warning("login locked for %s for %d minute(s) after %d wrong passwords", client,
                               int(self.policy.lockout // 60), self.policy.attempts)


async def _refuse(send: Send, wait: int) -> None:
    body = (f'{{"detail": "too many wrong passwords from this address; try again in {wait} second(s)"}}').encode()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", str(wait).encode())]})
    await send({"type": "http.response.body", "body": body})


_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:;,'\"()]+/)+([^\s/:;,'\"()]+)")


def without_server_paths(message: str) -> str:
    """``message`` with every absolute path shortened to its file name: a visitor sees the name of the
    file they uploaded, never where the server keeps it."""
    return _ABSOLUTE_PATH.sub(lambda match: Path(match.group(0)).name, message)


def upload_folder() -> Path:
    """Where Gradio keeps uploads (the app points it inside its own folder)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def discard_uploads(paths: list[str]) -> None:
    """Delete uploaded files (and their emptied per-file folders); paths outside the upload folder, a
    user's own files on a local run, are never touched."""
    root = os.path.realpath(upload_folder())
    for path in paths:
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root or real == root:
            continue
        Path(real).unlink(missing_ok=True)
        parent = Path(real).parent
        if str(parent) != root:
            try:
                parent.rmdir()
            except OSError:
                pass  # not empty: another file of the same upload lives there


def folder_size(folder: Path) -> int:
    total = 0
    for base, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total


SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4}


def parse_size(text: str) -> int:
    """``20gb``, ``500mb``, ``1024`` (bytes) as a number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?b)?\s*", text.lower())
    if not match:
        raise ValueError(f"'{text}' is not a size such as 500mb or 20gb")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2) or "b"])


class UploadBudget:
    """ASGI middleware in front of Gradio's upload route: an upload that would take the upload folder
    beyond ``budget`` bytes is refused (413) with a message saying so; every refusal is logged."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], budget: int,
                 folder: Callable[[], Path] = upload_folder) -> None:
        self.app = app
        self.budget = budget
        self.folder = folder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").rstrip("/").endswith(
                "/upload"):
            await self.app(scope, receive, send)
            return
        incoming = next((int(value) for name, value in scope.get("headers", []) if name == b"content-length"), 0)
        used = await asyncio.to_thread(folder_size, self.folder())
        if used + incoming > self.budget:
            logger.warning("upload of %d bytes refused: the upload folder holds %d of its %d bytes", incoming, used,
                           self.budget)
            text = (f"the server's upload space is full ({used / 1e9:.2f} of {self.budget / 1e9:.2f} GB used); try "
                    "again later or upload a smaller file")
            body = ('{"detail": "' + text + '"}').encode()
            # The upload is read and dropped first: answered mid-upload, clients see a reset connection
            # instead of the message.
            while True:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


RETIRE_AFTER = 120.0
"""Seconds an upload no request or page session holds is kept before it is deleted. Gradio keeps one
file for one content, so a second visitor's identical upload (waiting in the queue) shares it."""


class UploadKeeper:
    """Deletes uploads once no request and no page session holds them (and ``RETIRE_AFTER`` has passed)."""

    def __init__(self, retire_after: float = RETIRE_AFTER, clock: Callable[[], float] = time.monotonic) -> None:
        self.retire_after = retire_after
        self.clock = clock
        self._holders: dict[str, int] = {}
        self._retiring: dict[str, float] = {}
        self._lock = threading.Lock()

    def hold(self, paths: list[str]) -> None:
        with self._lock:
            for path in paths:
                self._holders[path] = self._holders.get(path, 0) + 1
                self._retiring.pop(path, None)

    def release(self, paths: list[str]) -> None:
        """The holder is done with ``paths``: each is deleted once nobody else holds it and its time is up."""
        now = self.clock()
        with self._lock:
            for path in paths:
                count = self._holders.get(path, 0) - 1
                if count > 0:
                    self._holders[path] = count
                    continue
                self._holders.pop(path, None)
                self._retiring[path] = now + self.retire_after
            due = [path for path, moment in self._retiring.items() if moment <= now]
            for path in due:
                del self._retiring[path]
        discard_uploads(due)

    def sweep(self) -> None:
        self.release([])


class PageEventsOnly:
    """ASGI middleware for an exposed app: the page's own (undocumented) events answer only the page.

    Gradio runs every event through one queue, addressed by its ``fn_index``; the page's internal
    events (preview, face picking, start and stop, ...) are as reachable there as the documented
    endpoints. A call naming an event that is not a documented endpoint must come from a page of this
    app: a browser says where a request comes from (``Origin``) and it must be this server (its
    ``Host``, or the ``X-Forwarded-Host`` a proxy or the share link's tunnel passes on). Scripts call
    the documented endpoints, which stay open to any client."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], public: frozenset[int]) -> None:
        self.app = app
        self.public = public

    @staticmethod
    def _same_origin(scope: Scope) -> bool:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        origin = headers.get("origin", "")
        if not origin or origin == "null":
            return False
        origin_host = origin.split("://", 1)[-1].rstrip("/").lower()
        hosts = {headers.get("host", "").lower(), *(item.strip().lower() for item in
                                                   headers.get("x-forwarded-host", "").split(",") if item.strip())}
        return origin_host in hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "").rstrip("/")
        if scope["type"] != "http" or scope.get("method") != "POST" or not (
                path.endswith("/queue/join") or "/run/" in path or "/api/" in path):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            fn_index = json.loads(body or b"{}").get("fn_index")
        except (ValueError, AttributeError):
            fn_index = None
        if isinstance(fn_index, int) and fn_index not in self.public and not self._same_origin(scope):
            client = (scope.get("client") or ("unknown", 0))[0]
            logger.warning("refused a call of the page's event %d from %s (not from the page)", fn_index, client)
            text = b'{"detail": "this event belongs to the page; scripts call the documented endpoints (see /?view=api)"}'
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": text})
            return
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def public_events(demo: Any) -> frozenset[int]:
    """The ``fn_index`` of every documented endpoint of a Blocks app."""
    return frozenset(index for index, block in demo.fns.items() if getattr(block, "api_visibility", "") == "public")

"""Uploads: deleted once no request and no page session holds them, and all of them together kept within
a disk budget (ASGI middleware before Gradio's upload route)."""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from .asgi import ASGIApp, Receive, Scope, Send, client_address, counted, header, posted_path, refuse

logger = logging.getLogger("facefusion")


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


class UploadBudget:
    """ASGI middleware in front of Gradio's upload route: all uploads together stay within ``budget`` bytes of
    the upload folder, and each client within ``per_client`` bytes an hour, so one visitor cannot fill the
    space for everyone. The bytes are counted as they stream in (a chunked upload declares no length) and
    the upload is cut at the limit; every refusal is logged."""

    def __init__(self, app: ASGIApp, budget: int, per_client: int | None = None,
                 folder: Callable[[], Path] = upload_folder, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.budget = budget
        self.per_client = per_client or budget
        self.folder = folder
        self.clock = clock
        self._recent: dict[str, deque[tuple[float, int]]] = {}

    def _client_used(self, client: str) -> int:
        """Bytes ``client`` uploaded in the last CLIENT_WINDOW; clients with none are forgotten (a flood from
        many addresses leaves no entries behind)."""
        for name in list(self._recent):
            recent = self._recent[name]
            while recent and recent[0][0] < self.clock() - CLIENT_WINDOW:
                recent.popleft()
            if not recent:
                del self._recent[name]
        return sum(size for _, size in self._recent.get(client, ()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = posted_path(scope)
        if path is None or not path.endswith("/upload"):
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        declared = header(scope, "content-length")
        incoming = int(declared) if declared.isdigit() else 0
        used = await asyncio.to_thread(folder_size, self.folder())
        mine = self._client_used(client)
        room = min(self.budget - used, self.per_client - mine)
        full = (f"the server's upload space is full ({used / 1e9:.2f} of {self.budget / 1e9:.2f} GB used); try again "
                "later or upload a smaller file") if self.budget - used <= self.per_client - mine else \
            (f"you uploaded {mine / 1e9:.2f} GB in the last hour, this server's limit per visitor is "
             f"{self.per_client / 1e9:.2f} GB; try again later")
        if incoming > room or room <= 0:
            logger.warning("upload of %d bytes from %s refused: %s", incoming, client, full)
            await refuse(send, 413, full, receive=receive)
            return
        received = await counted(self.app, scope, receive, send, room, full, client)
        self._recent.setdefault(client, deque()).append((self.clock(), received))


CLIENT_WINDOW = 3600.0
"""The per-client upload budget counts the bytes of the last hour."""


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

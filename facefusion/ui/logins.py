"""Wrong passwords slowed down and, repeated, locked out per client (ASGI middleware before ``/login``)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .asgi import ASGIApp, Receive, Scope, Send, answer, client_address, posted_path

logger = logging.getLogger("facefusion")


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
    pending: int = 0
    """Attempts being checked now."""


class LoginThrottle:
    """ASGI middleware in front of Gradio's ``/login``: each wrong password is answered late, and a client
    with too many of them gets 429 until its lockout ends. Attempts are counted when they arrive, before any
    is answered, so a burst sent at once is cut at the limit like a slow series. Every failure and lockout is
    logged."""

    def __init__(self, app: ASGIApp, policy: LoginPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.policy = policy or LoginPolicy()
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = posted_path(scope)
        if path is None or not path.endswith("/login"):
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        async with self._lock:
            refusal = self._admit(client, self.clock())
        if refusal is not None:
            logger.warning("login refused for %s: %s", client, refusal[0])
            await answer(send, 429, refusal[0], ((b"retry-after", str(refusal[1]).encode()),))
            return
        status: list[int] = []

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                if message["status"] >= 400:
                    await asyncio.sleep(self.policy.delay)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            async with self._lock:
                self._settle(client, bool(status) and status[0] < 400)

    def _admit(self, client: str, now: float) -> tuple[str, int] | None:
        """Count the attempt now (None), or why it is refused and for how many seconds."""
        state = self._clients.setdefault(client, _Client())
        if state.locked_until > now:
            wait = int(state.locked_until - now) + 1
            return f"too many wrong passwords from this address; try again in {wait} second(s)", wait
        while state.failures and state.failures[0] < now - self.policy.window:
            state.failures.popleft()
        if len(state.failures) + state.pending >= self.policy.attempts:
            wait = int(self.policy.delay) + 1
            return "too many logins at once from this address; try again in a moment", wait
        state.pending += 1
        return None

    def _settle(self, client: str, accepted: bool) -> None:
        now = self.clock()
        state = self._clients.setdefault(client, _Client())
        state.pending -= 1
        if accepted:
            state.failures.clear()
            return
        state.failures.append(now)
        logger.warning("wrong login from %s (%d in the last %d minute(s))", client, len(state.failures),
                       int(self.policy.window // 60))
        if len(state.failures) >= self.policy.attempts:
            state.locked_until = now + self.policy.lockout
            state.failures.clear()
            logger.warning("login locked for %s for %d minute(s) after %d wrong passwords", client,
                           int(self.policy.lockout // 60), self.policy.attempts)

"""What changes when the web app is reachable by others (``--share``, a Space, a non-local address).

Exposed, the app answers the page's own events only to its page and lets no visitor make the server
download models (unless the operator allows it). Everywhere, messages show the user's own file name,
never a server path; wrong passwords are throttled (logins.py) and uploads kept in bounds (uploads.py).
"""
from __future__ import annotations

import json
import logging
from typing import Any

from .asgi import (LOCAL_ADDRESSES, ASGIApp, Receive, Scope, Send, answer, client_address, header, posted_path,
                   read_body, replaying)

logger = logging.getLogger("facefusion")


def is_exposed(server_name: str, share: bool, on_space: bool) -> bool:
    """Whether people other than the one at this computer can reach the app."""
    return share or on_space or server_name not in LOCAL_ADDRESSES


class PageEventsOnly:
    """ASGI middleware for an exposed app: the page's own (undocumented) events answer only the page.

    Gradio runs every event through one queue, addressed by its ``fn_index``; the page's internal
    events (preview, face picking, start and stop, ...) are as reachable there as the documented
    endpoints. A call naming an event that is not a documented endpoint must come from a page of this
    app: a browser says where a request comes from (``Origin``) and it must be this server (its
    ``Host``, or the ``X-Forwarded-Host`` a proxy or the share link's tunnel passes on). Scripts call
    the documented endpoints, which stay open to any client."""

    def __init__(self, app: ASGIApp, public: frozenset[int]) -> None:
        self.app = app
        self.public = public

    @staticmethod
    def _same_origin(scope: Scope) -> bool:
        origin = header(scope, "origin")
        if not origin or origin == "null":
            return False
        origin_host = origin.split("://", 1)[-1].rstrip("/").lower()
        forwarded = [item.strip().lower() for item in header(scope, "x-forwarded-host").split(",") if item.strip()]
        return origin_host in {header(scope, "host").lower(), *forwarded}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = posted_path(scope)
        if path is None or not (path.endswith("/queue/join") or "/run/" in path or "/api/" in path):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        try:
            fn_index = json.loads(body or b"{}").get("fn_index")
        except (ValueError, AttributeError):
            fn_index = None
        if isinstance(fn_index, int) and fn_index not in self.public and not self._same_origin(scope):
            logger.warning("refused a call of the page's event %d from %s (not from the page)", fn_index,
                           client_address(scope))
            await answer(send, 403, "this event belongs to the page; scripts call the documented endpoints "
                                    "(see /?view=api)")
            return
        await self.app(scope, replaying(body, receive), send)


def public_events(demo: Any) -> frozenset[int]:
    """The ``fn_index`` of every documented endpoint of a Blocks app."""
    return frozenset(index for index, block in demo.fns.items() if getattr(block, "api_visibility", "") == "public")

"""What changes when the web app is reachable by others (``--share``, a Space, a non-local address).

Exposed, the app answers the page's own events only to its page (a per-page secret, checked on the resolved
event whatever route names it) and lets no visitor make the server download models (unless the operator
allows it). Everywhere, messages show the user's own file name,
never a server path; wrong passwords are throttled (logins.py) and uploads kept in bounds (uploads.py).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any

from .asgi import LOCAL_ADDRESSES, ASGIApp, Receive, Scope, Send

logger = logging.getLogger("facefusion")


def is_exposed(server_name: str, share: bool, on_space: bool) -> bool:
    """Whether people other than the one at this computer can reach the app."""
    return share or on_space or server_name not in LOCAL_ADDRESSES


PAGE_COOKIE = "facefusion_page"


class PageSecret:
    """Proves a request comes from a page this app served: each page load gets its own random value signed
    with a key that lives only in this process (an ``HttpOnly`` cookie, which the page's own requests carry and
    a forged header cannot stand in for)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def issue(self) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._sign(nonce)}"

    def valid(self, value: str | None) -> bool:
        nonce, _, signed = (value or "").partition(".")
        return bool(nonce) and hmac.compare_digest(signed, self._sign(nonce))

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()


class PageCookie:
    """ASGI middleware: every HTML page this app serves sets a fresh page secret (see PageSecret). On a Space the
    page lives in another site's frame, so the cookie is ``SameSite=None; Secure; Partitioned`` there."""

    def __init__(self, app: ASGIApp, secret: PageSecret, framed: bool = False) -> None:
        self.app, self.secret = app, secret
        self.attributes = "; SameSite=None; Secure; Partitioned" if framed else "; SameSite=Strict"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return

        async def with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = dict((key.lower(), value) for key, value in message.get("headers", []))
                if headers.get(b"content-type", b"").startswith(b"text/html"):
                    cookie = f"{PAGE_COOKIE}={self.secret.issue()}; Path=/; HttpOnly{self.attributes}"
                    message = {**message, "headers": [*message.get("headers", []),
                                                      (b"set-cookie", cookie.encode("latin-1"))]}
            await send(message)

        await self.app(scope, receive, with_cookie)


def guard_page_events(demo: Any, secret: PageSecret) -> None:
    """Make the page's own (undocumented) events answer only its page, whatever route names them.

    Gradio resolves an event from several routes (``/queue/join`` by ``fn_index``, ``/call/NAME``,
    ``/run/NAME``, ``/api/NAME``, the v2 call ...) and every one of them runs it through the Blocks'
    ``process_api``: the check sits there, on the resolved function. An event that is not a documented
    endpoint runs only for a request that carries a page secret (PageSecret); scripts call the documented
    endpoints, which stay open to any client."""
    import gradio as gr

    process_api = demo.process_api

    async def guarded(block_fn: Any, *args: Any, request: Any = None, **kwargs: Any) -> Any:
        fn = demo.fns[block_fn] if isinstance(block_fn, int) else block_fn
        first = request[0] if isinstance(request, list) and request else request
        if request is not None and getattr(fn, "api_visibility", "") != "public":
            cookies = getattr(first, "cookies", None) or {}
            if not secret.valid(cookies.get(PAGE_COOKIE)):
                client = getattr(getattr(first, "client", None), "host", "unknown")
                logger.warning("refused a call of the page's event %s from %s (not from the page)",
                               getattr(fn, "name", "?"), client)
                raise gr.Error("this event belongs to the page; scripts call the documented endpoints (see "
                               "/?view=api)", print_exception=False)
        return await process_api(block_fn, *args, request=request, **kwargs)

    demo.process_api = guarded


def protect_page(demo: Any, framed: bool = False) -> Any:
    """Guard the page's events of ``demo`` and return the middleware that hands its pages their secret."""
    from starlette.middleware import Middleware

    secret = PageSecret()
    guard_page_events(demo, secret)
    return Middleware(PageCookie, secret=secret, framed=framed)

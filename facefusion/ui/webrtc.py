"""The Live tab's low-latency mode: the browser's camera to the server and back over WebRTC (aiortc).

Signalling is WHIP-style: the page POSTs its SDP offer to ``live/whip?token=...`` and gets the answer (201, with
the connection's address in ``Location``); a DELETE of that address ends it, a GET says why the server ended it
(a protected person, a content check), if it did. The token comes from a page event
(so the page's login, consent and source photos apply) and is good for one connection, for a minute.

No ICE server is configured, on either side: host candidates only, so it works offline, on this machine and on
a LAN (across NAT it needs a TURN server, which is not offered). The answer's track draws the newest camera frame
when the last one is done: frames that arrive meanwhile are dropped, never queued, and each drawn frame keeps its
capture timestamp.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qs

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from ..errors import StudioError
from ..types import FrameBGR
from .asgi import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("facefusion")

WHIP_PATH = "/live/whip"
TOKEN_SECONDS = 60.0
MAX_OFFER_BYTES = 64 * 1024
"""An SDP offer is a few kilobytes; a larger body is not one."""
MAX_CONNECTIONS = 4
KEPT_ENDINGS = 32

Draw = Callable[[FrameBGR], FrameBGR]
"""Draws one camera frame (BGR) into the frame sent back; raises StudioError to end the connection."""


@dataclass(frozen=True)
class Grant:
    """What a token opens: how its frames are drawn, what to let go when the connection ends, and until when the
    token is good."""

    draw: Draw
    end: Callable[[], None]
    expires: float


class LiveTokens:
    """One-use tokens, each the right to open one WebRTC connection that draws with its ``draw``."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def issue(self, draw: Draw, end: Callable[[], None]) -> str:
        """A token for one connection drawn with ``draw``; ``end`` is called when that connection ends."""
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._grants = {key: grant for key, grant in self._grants.items() if grant.expires > now}
            self._grants[token] = Grant(draw, end, now + TOKEN_SECONDS)
        return token

    def take(self, token: str) -> Grant | None:
        with self._lock:
            grant = self._grants.pop(token, None)
        return grant if grant is not None and grant.expires > time.monotonic() else None


class SwappedTrack(MediaStreamTrack):
    """The frames sent back: the newest camera frame, drawn, with its own timestamp."""

    kind = "video"

    def __init__(self, camera: MediaStreamTrack, draw: Draw, on_error: Callable[[str], None]) -> None:
        super().__init__()
        self._camera = camera
        self._draw = draw
        self._on_error = on_error
        self._newest: av.VideoFrame | None = None
        self._arrived = asyncio.Event()
        self._ended = False
        # One thread per connection: its drawing state follows faces from frame to frame, one frame at a time.
        self._drawer = ThreadPoolExecutor(1, thread_name_prefix="live-webrtc")
        self._reader = asyncio.ensure_future(self._read())
        self.dropped = 0

    async def _read(self) -> None:
        try:
            while True:
                frame = await self._camera.recv()
                if not isinstance(frame, av.VideoFrame):
                    continue
                self.dropped += self._newest is not None
                self._newest = frame
                self._arrived.set()
        except MediaStreamError:
            self._ended = True
            self._arrived.set()

    async def recv(self) -> av.VideoFrame:
        await self._arrived.wait()
        self._arrived.clear()
        frame, self._newest = self._newest, None
        if frame is None or self._ended:
            self.stop()
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        try:
            image = cast(FrameBGR, frame.to_ndarray(format="bgr24"))
            drawn = await loop.run_in_executor(self._drawer, self._draw, image)
        except StudioError as error:
            self._on_error(error.message)
            self.stop()
            raise MediaStreamError from None
        sent = av.VideoFrame.from_ndarray(drawn, format="bgr24")
        sent.pts, sent.time_base = frame.pts, frame.time_base
        return sent

    def stop(self) -> None:
        super().stop()
        self._reader.cancel()
        self._drawer.shutdown(wait=False)


class WhipEndpoint:
    """ASGI middleware that answers the WHIP-style signalling and passes every other request on."""

    def __init__(self, app: ASGIApp, tokens: LiveTokens) -> None:
        self.app = app
        self.tokens = tokens
        self.connections: dict[str, tuple[RTCPeerConnection, Grant]] = {}
        self.endings: dict[str, str] = {}
        """Why recent connections were ended by the server (what the page shows), newest last."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")) if scope["type"] == "http" else ""
        if path == WHIP_PATH and scope.get("method") == "POST":
            await self._offer(scope, receive, send)
        elif path.startswith(WHIP_PATH + "/") and scope.get("method") == "DELETE":
            await self._close(path.rsplit("/", 1)[-1])
            await _reply(send, 200, b"")
        elif path.startswith(WHIP_PATH + "/") and scope.get("method") == "GET":
            ending = self.endings.get(path.rsplit("/", 1)[-1])
            await _reply(send, 200 if ending else 204, (ending or "").encode())
        else:
            await self.app(scope, receive, send)

    async def _offer(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        grant = self.tokens.take(token)
        if grant is None:
            await _reply(send, 403, b"this live token is unknown, used or expired: start the camera again")
            return
        if len(self.connections) >= MAX_CONNECTIONS:
            await _reply(send, 503, b"the server draws as many live cameras as it can: try again later")
            return
        offer = await _body(receive)
        if offer is None:
            await _reply(send, 413, b"an SDP offer is a few kilobytes")
            return
        identifier = uuid.uuid4().hex
        connection = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.connections[identifier] = (connection, grant)

        def failed(message: str) -> None:
            logger.warning("the live connection ended: %s", message)
            self.endings[identifier] = message
            while len(self.endings) > KEPT_ENDINGS:
                self.endings.pop(next(iter(self.endings)))
            asyncio.ensure_future(self._close(identifier))

        @connection.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                connection.addTrack(SwappedTrack(track, grant.draw, failed))

        @connection.on("connectionstatechange")
        async def on_state() -> None:
            if connection.connectionState in ("failed", "closed"):
                await self._close(identifier)

        try:
            await connection.setRemoteDescription(RTCSessionDescription(sdp=offer.decode(), type="offer"))
            await connection.setLocalDescription(await connection.createAnswer())
        except (ValueError, AttributeError) as error:
            await self._close(identifier)
            await _reply(send, 400, f"not a usable SDP offer: {error}".encode())
            return
        await _reply(send, 201, connection.localDescription.sdp.encode(), "application/sdp",
                     [(b"location", f"whip/{identifier}".encode())])  # relative: under any path prefix

    async def _close(self, identifier: str) -> None:
        entry = self.connections.pop(identifier, None)
        if entry is not None:
            connection, grant = entry
            await connection.close()
            # The drawing state (tracker, models) is let go once a frame being drawn is done: not on this loop.
            await asyncio.get_running_loop().run_in_executor(None, grant.end)


async def _body(receive: Receive) -> bytes | None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_OFFER_BYTES:
            return None
        if not message.get("more_body"):
            return body


async def _reply(send: Send, status: int, body: bytes, content_type: str = "text/plain",
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


__all__ = ["Grant", "LiveTokens", "WhipEndpoint"]

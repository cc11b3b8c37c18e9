"""The Live tab's server side: each page session's camera frames drawn with the video runs' frame path.

The browser's webcam stream (Gradio's ``.stream``) sends a frame, waits for the drawn one and only then sends the
next, so frames are never queued: when the drawing is slow, the browser simply sends fewer. Each page session
keeps its own tracker (faces are followed from frame to frame) in a :class:`LivePicture`, made again when the
source photos or the options change.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections import deque

import numpy as np

from ..assign import SwapPlan
from ..errors import InvalidInputError
from ..frames import FrameDrawer
from ..inference.runtime import SessionPool
from ..live.outputs import VIRTUAL_CAMERA_HELP, VirtualCamera, virtual_camera_installed
from ..live.session import CONTENT_CHECK_EVERY, live_options, live_studio, waits_for_reference
from ..options import Options
from ..safety.gate import frame_marks
from ..safety.policy import SafetyPolicy
from ..safety.watermark import new_output_id
from ..types import FrameBGR

LIVE_SESSIONS = 4
"""Page sessions whose live state is kept at once (each holds its own detector and Face Meshes); the one unused
longest is let go first."""
ASSUMED_RATE = 10.0
"""Frames per second the tracker's smoothing assumes: about what the browser's stream delivers here."""
WAITING_FOR_A_FACE = ("waiting for a face: the reference face is the first face the camera shows (or choose "
                      "face selector mode 'one' or 'many')")

LiveKey = tuple[tuple[str, ...], tuple[str, ...], Options]


class LivePicture:
    """One page session's live drawing: a studio for live pictures, the plan (made on the first frame that shows
    the reference face), the tracker and the marks."""

    def __init__(self, key: LiveKey, options: Options, safety: SafetyPolicy, pool: SessionPool | None) -> None:
        self.key = key
        self.options = options
        self._exit = contextlib.ExitStack()
        self.studio = self._exit.enter_context(live_studio(options, safety, pool))
        self.marks = frame_marks(options, new_output_id())
        self.drawer: FrameDrawer | None = None
        self.frames = 0
        self._done: deque[float] = deque(maxlen=30)
        self._durations: deque[float] = deque(maxlen=100)
        self._last_check = -CONTENT_CHECK_EVERY
        self._virtual: VirtualCamera | None = None
        self._busy = threading.Lock()
        """Held while a frame is drawn: a session ended from another thread (a WebRTC connection closed) waits."""

    def _plan(self, frame: FrameBGR) -> SwapPlan | None:
        sources, face_map, _ = self.key
        plan = self.studio.plan(list(sources), frame, list(face_map))
        return None if waits_for_reference(plan, self.options) else plan

    def draw(self, frame: FrameBGR) -> tuple[FrameBGR, str]:
        """The frame as sent back (marked), and a line on the speed."""
        with self._busy:
            return self._draw(frame)

    def _draw(self, frame: FrameBGR) -> tuple[FrameBGR, str]:
        started = time.perf_counter()
        if self.drawer is None:
            plan = self._plan(frame)
            if plan is None:
                return self.marks(frame), WAITING_FOR_A_FACE
            self.drawer = FrameDrawer(self.studio, plan, self.options, "the camera", ASSUMED_RATE, self.marks)
        rendered = self.drawer.render(self.drawer.analyse(frame, self.frames))
        picture = self.marks(self.drawer.finish(rendered, self.frames))
        if self.studio.gate.checks_content and started - self._last_check >= CONTENT_CHECK_EVERY:
            self._last_check = started
            self.studio.gate.refuse_content(picture, "a live frame", "output")
        self.frames += 1
        finished = time.perf_counter()
        self._done.append(finished)
        if self.frames == 1:
            # The first frame loads the models and prepares the sources (seconds): said, then left out.
            return picture, (f"the first frame took {finished - started:.1f} s (the models loading); "
                             f"{rendered.swaps} face(s) swapped")
        self._durations.append(finished - started)
        return picture, self._speed(rendered.swaps)

    def _speed(self, swaps: int) -> str:
        span = self._done[-1] - self._done[0] if len(self._done) > 1 else 0.0
        rate = (len(self._done) - 1) / span if span > 0 else 0.0
        durations = np.array(self._durations) * 1000
        return (f"{rate:.1f} frames/s; drawing a frame takes {np.percentile(durations, 50):.0f} ms here "
                f"(p95 {np.percentile(durations, 95):.0f} ms); {swaps} face(s) swapped")

    def to_virtual_camera(self, frame: FrameBGR) -> None:
        if self._virtual is None:
            if not virtual_camera_installed():
                raise InvalidInputError(VIRTUAL_CAMERA_HELP)
            self._virtual = VirtualCamera(None, ASSUMED_RATE)
        self._virtual.send(frame, time.perf_counter())

    def close(self) -> None:
        """Let the models go, once the frame being drawn (if any) is done."""
        with self._busy:
            self._close()

    def _close(self) -> None:
        if self._virtual is not None:
            self._virtual.close()
        if self.drawer is not None:
            self.drawer.close()
        self._exit.close()


class LiveSessions:
    """Every page session's LivePicture, at most LIVE_SESSIONS of them."""

    def __init__(self) -> None:
        self._pictures: dict[str, LivePicture] = {}
        self._lock = threading.Lock()

    def draw(self, session: str, options: Options, sources: list[str], face_map: list[str], frame: FrameBGR,
             safety: SafetyPolicy, pool: SessionPool | None = None, virtual: bool = False) -> tuple[FrameBGR, str]:
        """``virtual``: send the drawn frame to this machine's virtual camera too."""
        options, notes = live_options(options)
        key: LiveKey = (tuple(sources), tuple(face_map), options)
        with self._lock:
            picture = self._pictures.pop(session, None)
        if picture is not None and picture.key != key:
            picture.close()
            picture = None
        if picture is None:
            picture = LivePicture(key, options, safety, pool)
        with self._lock:
            self._pictures[session] = picture  # the newest last: the first is the one unused longest
            while len(self._pictures) > LIVE_SESSIONS:
                self._pictures.pop(next(iter(self._pictures))).close()
        drawn, speed = picture.draw(frame)
        if virtual:
            picture.to_virtual_camera(drawn)
        return drawn, "; ".join([speed, *notes])

    def end(self, session: str) -> None:
        with self._lock:
            picture = self._pictures.pop(session, None)
        if picture is not None:
            picture.close()

    def close(self) -> None:
        with self._lock:
            pictures, self._pictures = list(self._pictures.values()), {}
        for picture in pictures:
            picture.close()

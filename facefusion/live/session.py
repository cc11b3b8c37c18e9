"""A live run: frames from a camera drawn by the same frame path as a video run, and sent as they are done.

The capture thread keeps the newest camera frame; this thread follows the faces in it (in order: each frame's
tracking starts from the last); render threads run the processors, mark the frames and send them, in the order
taken. A camera frame is taken only when a render thread is free, so it is as fresh as it can be: when the work
falls behind, camera frames are dropped, never queued, and the latency stays about one frame's work.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..analysis.analyse import analyser_for
from ..assign import SwapPlan
from ..engine import Studio
from ..errors import InvalidInputError
from ..frames import Analysed, FrameDrawer
from ..inference.runtime import SessionPool, execution_settings
from ..media.opencv_threads import single_threaded_opencv
from ..options import PROCESSOR_NAMES, Options
from ..processors import live_refusals
from ..safety.gate import FrameMarks
from ..safety.policy import SafetyPolicy
from ..types import FrameBGR
from .camera import Camera, Capture, Captured
from .outputs import LiveOutput

logger = logging.getLogger("facefusion")

CONTENT_CHECK_EVERY = 1.0
"""Seconds between the operator's content checks of sent frames (each costs a model run)."""
RENDER_THREADS = 2
"""Frames drawn at once: one frame's processors leave a core idle part of the time (on this 2-core machine, a
480x480 clip at 30 fps: one render thread sent 31-36 % of its frames, two 49-51 %, three 49-58 % with a p95
latency 40 ms longer)."""


def live_options(options: Options) -> tuple[Options, list[str]]:
    """The options without the processors that cannot run live, and a note on each left out; InvalidInputError
    when none is left."""
    refused = live_refusals(options.processors)
    kept = [name for name in options.processors if name not in refused]
    if not kept:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in refused.items())
        runs_live = [name for name in PROCESSOR_NAMES if not live_refusals([name])]
        raise InvalidInputError(f"no processor left that runs live ({reasons}); choose from "
                                f"{', '.join(runs_live)}")
    return options.replace(processors=kept), [f"{name} does not run live: {reason}" for name, reason in refused.items()]


def waits_for_reference(plan: SwapPlan, options: Options) -> bool:
    """Whether ``plan`` (made on a camera frame) has no reference face to select faces by yet: the frame showed
    none, and no face map gives faces their sources another way."""
    return (options.face_selector_mode == "reference" and plan.reference_embedding is None
            and not plan.by_position and not plan.by_reference)


@contextlib.contextmanager
def live_studio(options: Options, safety: SafetyPolicy, pool: SessionPool | None = None) -> Iterator[Studio]:
    """A studio for live pictures: the camera is upright (no turned picture is looked for) and faces are near
    it, so the detector looks at the whole frame only. ``pool``: model sessions to share (the app's)."""
    options = options.replace(face_detector_angles=[0])
    pool = pool or SessionPool(execution_settings(options))
    analyser = analyser_for(options, pool=pool, whole_frame=True)
    try:
        with Studio(options, analyser=analyser, safety=safety, pool=pool) as studio:
            yield studio
    finally:
        analyser.close()


@dataclass
class LiveStats:
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    failed: int = 0
    """Frames sent unprocessed because drawing them failed."""
    latencies: list[float] = field(default_factory=list)
    """Seconds from capture to sent, per sent frame."""
    first_capture: float = 0.0
    last_sent: float = 0.0

    @property
    def fps(self) -> float:
        span = self.last_sent - self.first_capture
        return self.frames_out / span if span > 0 and self.frames_out > 1 else 0.0

    def latency(self, percentile: float) -> float:
        """Milliseconds (0 when nothing was sent)."""
        return float(np.percentile(self.latencies, percentile)) * 1000 if self.latencies else 0.0

    def line(self) -> str:
        return (f"live: {self.frames_in} frames in, {self.frames_out} out, {self.dropped} dropped, "
                f"{self.failed} failed; {self.fps:.1f} fps; latency p50 {self.latency(50):.0f} ms, "
                f"p95 {self.latency(95):.0f} ms (capture to send)")


class _InOrder:
    """Lets frames drawn on several threads leave in the order they were taken."""

    def __init__(self) -> None:
        self._next = 0
        self._turn = threading.Condition()

    def wait_for(self, number: int, stop: threading.Event) -> bool:
        """Wait until frame ``number`` (counted from 0 in the order taken) is next; False when stopped first."""
        with self._turn:
            while self._next != number and not stop.is_set():
                self._turn.wait(0.1)
            return self._next == number

    def done(self, number: int) -> None:
        with self._turn:
            self._next = max(self._next, number + 1)
            self._turn.notify_all()


class LiveRun:
    """Draws a camera's frames with ``studio`` and ``plan`` into ``output`` until the camera ends, ``limit``
    frames came in, or ``stop`` is set."""

    def __init__(self, studio: Studio, plan: SwapPlan, camera: Camera, output: LiveOutput, marks: FrameMarks,
                 stop: threading.Event, limit: int | None = None) -> None:
        self.studio = studio
        self.output = output
        self.marks = marks
        self.stop = stop
        self.stats = LiveStats()
        self.drawer = FrameDrawer(studio, plan, studio.options, camera.description, camera.rate, marks)
        self.capture = Capture(camera, stop, limit)
        self._renderers = ThreadPoolExecutor(RENDER_THREADS, thread_name_prefix="live-render")
        self._free = threading.Semaphore(RENDER_THREADS)
        self._in_order = _InOrder()
        self._taken = 0
        self._error: BaseException | None = None
        self._last_check = -CONTENT_CHECK_EVERY

    def warm_up(self, frame: FrameBGR) -> None:
        """Draw one frame and forget it: the models load and the sources are prepared before the camera runs
        (on a 480x480 clip the first frame took 0.3 s to follow and 0.4 s to draw; meanwhile the camera's frames
        were dropped)."""
        self.drawer.render(self.drawer.analyse(frame, -1))
        self.drawer.reset()

    def run(self) -> LiveStats:
        """Run to the end; RefusedError when a protected person appears or a content check refuses a frame
        (the output is then abandoned). Ctrl-C (KeyboardInterrupt) ends it as the end of the camera does."""
        finished = False
        with single_threaded_opencv():
            self.capture.start()
            try:
                self._analyse_loop()
                finished = True
            except KeyboardInterrupt:
                finished = True
            finally:
                self._renderers.shutdown(wait=True)
                self.stop.set()
                self.capture.join()
                self.drawer.close()
                self.stats.frames_in, self.stats.dropped = self.capture.frames, self.capture.dropped
                if finished and self._error is None:
                    self.output.close()
                else:
                    self.output.abandon()
        if self._error is not None:
            raise self._error
        if self.capture.error is not None:
            logger.warning("the camera stopped: %s", self.capture.error)
        return self.stats

    def _analyse_loop(self) -> None:
        while not self.stop.is_set():
            # A render thread must be free before a camera frame is taken: then the frame is the newest there is.
            if not self._free.acquire(timeout=0.1):
                continue
            captured = self.capture.take()
            if captured is None:
                self._free.release()
                return
            if not self.stats.first_capture:
                self.stats.first_capture = captured.time
            analysed = self.drawer.analyse(captured.image, captured.number)
            self._renderers.submit(self._render, self._taken, captured, analysed)
            self._taken += 1

    def _render(self, number: int, captured: Captured, analysed: Analysed) -> None:
        try:
            rendered = self.drawer.render(analysed)
            frame = self.marks(self.drawer.finish(rendered, captured.number))
            if self._in_order.wait_for(number, self.stop):
                self._send(captured, frame, rendered.error is not None)
        except BaseException as error:  # noqa: BLE001 - raised again on the run's thread
            self._error = self._error or error
            self.stop.set()
        finally:
            self._in_order.done(number)
            self._free.release()

    def _send(self, captured: Captured, frame: FrameBGR, failed: bool) -> None:
        if self.studio.gate.checks_content and captured.time - self._last_check >= CONTENT_CHECK_EVERY:
            self._last_check = captured.time
            self.studio.gate.refuse_content(frame, f"the live frame {captured.number}", "output")
        self.output.send(frame, captured.time)
        sent = time.perf_counter()
        self.stats.frames_out += 1
        self.stats.failed += failed
        self.stats.latencies.append(sent - captured.time)
        self.stats.last_sent = sent


__all__ = ["LiveRun", "LiveStats", "live_studio"]

"""A video run on this machine, and one segment of it alone (what Ray's actors render).

The local run streams through three stages that overlap on the CPU cores: a decoder thread, the drawing (the
faces followed in order on this thread, the processors on worker threads) and an encoder thread that marks
and writes, joined by small bounded queues so memory does not grow with the clip. Output goes into resumable
segments (see ledger); a segment rendered alone gives the frames the whole run gives for it.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .engine import Studio
from .errors import InvalidInputError, StoppedError
from .frames import Analysed, FrameDrawer, Rendered, TurnedAway
from .image_job import unfitted_note
from .ledger import SegmentLedger
from .media.image import fit_within
from .media.video import DecodedFrame, EncoderSettings, SegmentWriter, read_frames, release_freed_memory
from .options import Options
from .processors.enhancers import FrameEnhancer, frame_enhancer_estimate
from .run_types import Job, Progress
from .safety.gate import FrameMarks, frame_marks
from .types import FrameBGR
from .video_plan import VideoPlan

logger = logging.getLogger("facefusion")

PREVIEW_EVERY = 0.5
"""Seconds between preview frames in the progress updates."""
PREVIEW_SIZE = 480
QUEUE_FRAMES = 8
CPU_RENDER_WORKERS = 2
"""Frames drawn at once on the CPU (OpenCV and numpy release the GIL): one per core here."""
GPU_RENDER_WORKERS = 8
"""Frames drawn at once with a GPU provider: enough rows in flight for the models' batches."""


def preview(frame: FrameBGR) -> FrameBGR:
    return fit_within(frame, PREVIEW_SIZE)


def render_worker_count(options: Options) -> int:
    if options.execution_thread_count:
        return options.execution_thread_count
    return CPU_RENDER_WORKERS if list(options.execution_providers) == ["cpu"] else GPU_RENDER_WORKERS


def drawer_for(studio: Studio, video: VideoPlan, job: Job, watermark_id: int | None) -> FrameDrawer:
    return FrameDrawer(studio, video.swap, studio.options, job.target, float(video.layout.schedule.rate),
                       frame_marks(studio.options, watermark_id), video.checked)


@dataclass(frozen=True)
class SegmentDone:
    """What rendering one segment alone found: its sums, and what the run's report needs from its tracker."""

    frames: int
    swaps: int
    failed: list[int]
    most_faces: int
    unfitted: int
    turned: TurnedAway


def render_segment(studio: Studio, video: VideoPlan, job: Job, number: int, path: Path,
                   watermark_id: int | None) -> SegmentDone:
    """Render output segment ``number`` of ``job`` alone into ``path``. Tracking restarts at each segment in the whole run too, so segments made apart, on several
    workers, join into the same video."""
    layout, schedule = video.layout, video.layout.schedule
    size = max(1, job.segment_frames)
    first, end = number * size, min(layout.total, (number + 1) * size)
    if first >= end:
        raise InvalidInputError(f"segment {number} is past the end of {job.target}")
    drawer = drawer_for(studio, video, job, watermark_id)
    writer = SegmentWriter(path, video.width, video.height, schedule.time_base, schedule.rate, layout.settings)
    swaps, failed = 0, []
    try:
        decoded = read_frames(layout.info, schedule.inputs[first], schedule.inputs[end - 1] + 1)
        current: DecodedFrame | None = None
        rendered: Rendered | None = None
        for position in range(first, end):
            wanted = schedule.inputs[position]
            while current is None or current.index < wanted:
                current = next(decoded, None)
                if current is None:
                    raise InvalidInputError(f"the video ended early at frame {wanted}: {job.target}")
                rendered = None
            if rendered is None:
                rendered = drawer.render(drawer.analyse(current.image, current.index))
            if rendered.error is not None:
                failed.append(wanted)
            swaps += rendered.swaps
            writer.write(drawer.marks(drawer.finish(rendered, position, layout.settings.alpha)), schedule.pts[position])
        writer.close()
    except BaseException:
        writer.abandon()
        raise
    finally:
        drawer.close()
    return SegmentDone(end - first, swaps, failed, drawer.most_faces, drawer.unfitted, drawer.turned)


_END = object()


def _decoder(video: VideoPlan, first: int, out: queue.Queue, stop: threading.Event) -> None:
    inputs = video.layout.schedule.inputs
    try:
        for decoded in read_frames(video.layout.info, inputs[first], inputs[-1] + 1):
            while not stop.is_set():
                try:
                    out.put(decoded, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        out.put(_END)
    except BaseException as error:  # handed to the consumer, which re-raises it
        out.put(error)


class EncoderThread:
    """Marks and writes the segments on its own thread, beside the drawing, not in its way. Each call queues a
    step; a failure is kept for ``check`` (the drawing side raises it) and drops the open segment."""

    def __init__(self, ledger: SegmentLedger, marks: FrameMarks) -> None:
        self.ledger = ledger
        self.marks = marks
        self.errors: list[BaseException] = []
        self._steps: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._writer: SegmentWriter | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while (step := self._steps.get()) is not None:
            try:
                step()
            except BaseException as error:  # noqa: BLE001 - reported by the drawing side
                self.errors.append(error)
                self._abandon()

    def open(self, number: int, video: VideoPlan, settings: EncoderSettings) -> None:
        schedule = video.layout.schedule
        path = self.ledger.segment(number)

        def step() -> None:
            self._writer = SegmentWriter(path, video.width, video.height, schedule.time_base, schedule.rate, settings)
        self._steps.put(step)

    def write(self, frame: FrameBGR, pts: int) -> None:
        def step() -> None:
            if self._writer is not None:
                self._writer.write(self.marks(frame), pts)
        self._steps.put(step)

    def close(self, number: int, swaps: int, failed: list[int]) -> None:
        def step() -> None:
            if self._writer is not None:
                writer, self._writer = self._writer, None
                writer.close()
                self.ledger.record(number, writer.frames, swaps, failed)
        self._steps.put(step)

    def _abandon(self) -> None:
        if self._writer is not None:
            self._writer.abandon()
            self._writer = None

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]

    def finish(self) -> None:
        """Write what is queued, then end."""
        self._steps.put(None)
        self._thread.join()
        self.check()

    def abandon(self) -> None:
        """Drop the open segment and end (a failed run)."""
        self._steps.put(self._abandon)
        self._steps.put(None)
        self._thread.join(timeout=30)


class LocalVideoRun:
    """The drawing side of a local run: frames from the decoder, faces followed here, processors on worker
    threads, finished frames to the encoder in output order, progress out."""

    def __init__(self, drawer: FrameDrawer, video: VideoPlan, ledger: SegmentLedger, encoder: EncoderThread,
                 job: Job, stop: threading.Event) -> None:
        self.drawer, self.video, self.ledger, self.encoder = drawer, video, ledger, encoder
        self.job, self.stop = job, stop
        self.schedule = video.layout.schedule
        self.total = video.layout.total
        self.first = ledger.first_output
        self.segment_swaps = 0
        self.segment_failed: list[int] = []
        self._frames: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self._decoder_stop = threading.Event()
        self._pending: deque[tuple[int, Future[Rendered]]] = deque()
        self._workers = ThreadPoolExecutor(max_workers=render_worker_count(drawer.options),
                                           thread_name_prefix="render")
        self._last_preview = 0.0
        self._started = time.perf_counter()

    def frames(self) -> Iterator[Progress]:
        """Draw every output frame from the resume point on; progress after each."""
        if self.first < self.total:
            threading.Thread(target=_decoder, daemon=True,
                             args=(self.video, self.first, self._frames, self._decoder_stop)).start()
        current: DecodedFrame | None = None
        future: Future[Rendered] | None = None
        in_flight = render_worker_count(self.drawer.options) + 1
        for position in range(self.first, self.total):
            if self.stop.is_set():
                raise StoppedError("stopped by the user; run the same command again to continue")
            self.encoder.check()
            if position % self.ledger.size == 0:
                yield from self._drain(0)
                self._start_segment(position)
            wanted = self.schedule.inputs[position]
            if future is None or current is None or current.index < wanted:
                current = self._next_input(current, wanted)
                # Following the faces is sequential (each frame starts from the last); drawing them is not, so
                # it runs on worker threads while the next frame is analysed.
                analysed: Analysed = self.drawer.analyse(current.image, current.index)
                future = self._workers.submit(self.drawer.render, analysed)
            self._pending.append((position, future))
            yield from self._drain(in_flight)
        yield from self._drain(0)
        if self.first < self.total:
            self.encoder.close(self.ledger.count - 1, self.segment_swaps, self.segment_failed)

    def _start_segment(self, position: int) -> None:
        number = position // self.ledger.size
        if position > self.first:
            self.encoder.close(number - 1, self.segment_swaps, self.segment_failed)
        self.segment_swaps, self.segment_failed = 0, []
        self.drawer.reset()
        release_freed_memory()
        self.encoder.open(number, self.video, self.video.layout.settings)

    def _next_input(self, current: DecodedFrame | None, wanted: int) -> DecodedFrame:
        while current is None or current.index < wanted:
            item = self._frames.get()
            if isinstance(item, BaseException):
                raise item
            if item is _END:
                raise InvalidInputError(f"the video ended early at frame {wanted}: {self.job.target}")
            current = item
        return current

    def _drain(self, keep: int) -> Iterator[Progress]:
        """Hand finished frames to the encoder, in order, until at most ``keep`` are in flight."""
        while len(self._pending) > keep:
            position, future = self._pending.popleft()
            rendered = future.result()
            if rendered.error is not None:
                self.segment_failed.append(self.schedule.inputs[position])
            self.segment_swaps += rendered.swaps
            frame = self.drawer.finish(rendered, position, self.video.layout.settings.alpha)
            self.encoder.write(frame, self.schedule.pts[position])
            yield self._progress(position + 1, frame[:, :, :3])

    def _progress(self, done: int, frame: FrameBGR) -> Progress:
        fps = (done - self.first) / max(time.perf_counter() - self._started, 1e-6)
        shown = None
        if time.perf_counter() - self._last_preview >= PREVIEW_EVERY or done == self.total:
            shown = preview(frame)
            self._last_preview = time.perf_counter()
        return Progress(frame=done, total=self.total, fps=fps, eta=(self.total - done) / max(fps, 1e-6), preview=shown)

    def shut(self) -> None:
        """Stop the decoder and the workers however the run ended."""
        self._decoder_stop.set()
        for _, waiting in self._pending:
            waiting.cancel()
        self._workers.shutdown(wait=True, cancel_futures=True)


def enhancer_estimate(studio: Studio, video: VideoPlan, ledger: SegmentLedger) -> tuple[float, str] | None:
    """What a frame enhancer will take for the frames left, in seconds and in words (said before the first
    frame); None without one."""
    enhancer = next((processor for processor in studio.processors if isinstance(processor, FrameEnhancer)), None)
    if enhancer is None or ledger.first_output >= ledger.total:
        return None
    info = video.layout.info
    return frame_enhancer_estimate(enhancer, info.width, info.height, ledger.total - ledger.first_output)


def run_report(studio: Studio, video: VideoPlan, most_faces: int, unfitted: int, turned: TurnedAway,
               ledger: SegmentLedger) -> list[str]:
    """The warnings a finished video run adds, the same for a local and a Ray run: what did not run as asked,
    face-map positions past the most faces a frame has, faces that could not be fitted or were turned too far."""
    options = studio.options
    warnings = list(studio.setup_warnings)
    unmatched = sorted(position for position in video.swap.by_position if position >= most_faces)
    if unmatched and ledger.first_output < ledger.total:
        warnings.append(f"--face-map position(s) {', '.join(map(str, unmatched))} match no face: no frame "
                        f"has more than {most_faces} face(s), counted from 0 in --face-selector-order "
                        f"{options.face_selector_order}")
    if unfitted and "face_swapper" in options.processors:
        warnings.append(unfitted_note(unfitted, " at the full detections (every few frames)"))
    turned_note = turned.note()
    if turned_note is not None:
        warnings.append(turned_note)
    return warnings


"""The segment ledger of a video run, the same for the local run and the Ray driver: which segments are
finished (from an earlier, stopped run too), where the run resumes, the sums the report gives, what is kept or
removed when the run fails, and the joined result."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import RefusedError, StorageError
from .media.video import assemble
from .options import Options
from .parts import WorkFolder
from .run_types import RunResult
from .safety.watermark import format_id
from .video_plan import VideoLayout

logger = logging.getLogger("facefusion")


class SegmentLedger:
    """The finished segments of ``OUTPUT.parts`` and the run's sums over them."""

    def __init__(self, parts: WorkFolder, total: int, segment_frames: int) -> None:
        self.parts = parts
        self.total = total
        self.size = max(1, segment_frames)
        self.count = (total + self.size - 1) // self.size
        records = parts.finished([self.frames_in(number) for number in range(self.count)])
        self.resumed = len(records)
        """Segments finished before this run began: it starts at the next."""
        self.swaps = sum(record.swaps for record in records)
        self.failed = [index for record in records for index in record.failed_frames]
        self.done = min(total, self.resumed * self.size)
        """Output frames finished so far."""
        if self.done:
            logger.info("resuming at frame %d of %d (%d segment(s) already done)", self.done, total, self.resumed)

    @property
    def first_output(self) -> int:
        """The output position this run starts at."""
        return min(self.total, self.resumed * self.size)

    def frames_in(self, number: int) -> int:
        return min(self.size, self.total - number * self.size)

    def segment(self, number: int) -> Path:
        return self.parts.segment(number)

    def record(self, number: int, frames: int, swaps: int, failed: list[int]) -> None:
        """Segment ``number`` is written, closed and synced: count it as finished."""
        self.parts.record(number, frames, swaps, failed)
        self.swaps += swaps
        self.failed.extend(failed)
        self.done += frames

    @contextmanager
    def kept_on_failure(self) -> Iterator[None]:
        """A failing run keeps its finished segments for a resume, unless there are none or it was refused."""
        try:
            yield
        except BaseException as error:
            if not self.parts.has_finished() or isinstance(error, RefusedError):
                self.parts.remove()  # nothing worth resuming (or allowed to be): the failure leaves nothing behind
            elif isinstance(error, StorageError):
                raise StorageError(f"{error.message}; the finished segments in {self.parts.folder} are kept: the "
                                   "same command continues from them") from None
            raise

    def join(self, layout: VideoLayout, options: Options, description: str, warnings: list[str]) -> None:
        """Join the finished segments with the target's audio into the output (no re-encoding), then drop them."""
        schedule, info = layout.schedule, layout.info
        segments = [self.segment(number) for number in range(self.count)]
        shift = schedule.start_time if options.trim_frame_start else 0.0
        try:
            assemble(segments, info, layout.output,
                     schedule.start_time if options.trim_frame_start else -float("inf"),
                     schedule.end_time if options.trim_frame_end else float("inf"), shift, description=description,
                     keep_audio=options.output_audio_volume > 0, volume=options.output_audio_volume / 100)
        except StorageError as error:
            raise StorageError(f"{error.message}; every segment is rendered and kept in {self.parts.folder}: the "
                               "same command only joins them") from None
        self.parts.remove()
        if not info.audio_streams and options.output_audio_volume > 0:
            warnings.append("the target has no audio: the output has none either")

    def result(self, layout: VideoLayout, started: float, engine: str, source_type: str | None,
               warnings: list[str], watermarked: bool) -> RunResult:
        """The run's report, with what the finished segments of an earlier run hold counted as this run's."""
        for message in warnings:
            logger.warning(message)
        return RunResult(output_path=layout.output, frames=self.total, faces_swapped=self.swaps,
                         failed_frames=sorted(self.failed), seconds=time.perf_counter() - started, engine=engine,
                         resumed_from=self.first_output, warnings=warnings,
                         watermark_id=format_id(self.parts.watermark_id) if watermarked else None,
                         source_type=source_type)

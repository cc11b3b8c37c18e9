"""One generator for every front end: process a target image or video, yield progress, then the result.

``run`` yields :class:`Progress` (frames done, total, frames per second, ETA, now and then a small
preview of the processed frame) and finally a :class:`RunResult`. The CLI draws a progress bar from
it, the web UI shows the previews live, and the API offers it as it is or as a blocking call.

Videos stream through three stages that overlap on the CPU cores: a decoder thread, the processing
loop, and an encoder thread, joined by small bounded queues so memory does not grow with the clip.
The output is written in segments next to the output path (``OUTPUT.parts/``) with a state file; a
run that is stopped, killed or crashes continues from the last complete segment when the same
command runs again, and gives the same file as an uninterrupted run. The output appears under its
name only when complete.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from .api import Studio, unfitted_note
from .assign import Assignment, SwapPlan, assign_faces
from .errors import InvalidInputError, RefusedError, StoppedError, StorageError
from .analysis.track import FaceTracker
from .media.image import check_output_path, fit_within, is_image_path, read_image, resized
from .media.opencv_threads import single_threaded_opencv
from .media.video import (OUTPUT_VIDEO_EXTENSIONS, WEBM_ENCODERS, EncoderSettings, SegmentWriter, VideoInfo,
                          assemble, is_video_path, probe_video, read_frames, release_freed_memory)
from .options import Options, option_specs
from .parts import SEGMENT_FRAMES, WorkFolder
from .processors import FrameContext, run_processors
from .processors.enhancers import FrameEnhancer, frame_enhancer_estimate
from .safety import audit
from .safety.label import LabelPainter, label_painter
from .safety.moderation import sample_positions
from .safety.policy import SafetyPolicy
from .safety.provenance import Credentials, load_credentials, sign_output
from .safety.watermark import VideoMarker, format_id
from .sources import face_map_files
from .types import Face, FrameBGR, Identity

logger = logging.getLogger("facefusion")

PREVIEW_EVERY = 0.5
"""Seconds between preview frames in the progress updates."""
PREVIEW_SIZE = 480
QUEUE_FRAMES = 8
CPU_RENDER_WORKERS = 2
"""Frames drawn at once on the CPU (OpenCV and numpy release the GIL): one per core here."""
GPU_RENDER_WORKERS = 8
"""Frames drawn at once with a GPU provider: enough rows in flight for the models' batches."""


@dataclass(frozen=True)
class Job:
    sources: tuple[str, ...]
    target: str
    output: str | None = None
    face_map: tuple[str, ...] = ()
    reference_face_path: str | None = None
    resume: bool = True
    """Continue a run that stopped part-way, when its saved state matches this job."""
    segment_frames: int = SEGMENT_FRAMES
    """Output frames per resumable segment."""
    watermark_id: int | None = None
    """The output id the video's watermark carries (a service may use its own job numbers); None draws one at
    random. Below 2**20."""
    safety: SafetyPolicy = SafetyPolicy()
    """The operator's policy: protected people to refuse, the audit log to write to."""
    inputs_id: str | None = None
    """Names the inputs for resuming instead of their paths and times: a service's job id, whose inputs never
    change, so that its finished segments can be continued on another machine."""


@dataclass(frozen=True)
class Progress:
    frame: int
    """Frames done."""
    total: int
    fps: float
    eta: float
    """Seconds left, estimated."""
    preview: FrameBGR | None = None
    note: str | None = None
    """Something the user should know now (what a slow model will take, said before the first frame)."""


@dataclass
class RunResult:
    output_path: Path | None
    frames: int
    faces_swapped: int
    failed_frames: list[int]
    seconds: float
    engine: str
    resumed_from: int = 0
    warnings: list[str] = field(default_factory=list)
    frame: FrameBGR | None = None
    """The result for an image target."""
    faces_found: int | None = None
    faces_selected: int | None = None
    watermark_id: str | None = None
    """The output id its invisible watermark carries (None with --no-output-watermark)."""
    source_type: str | None = None
    """How it was made, in IPTC's digital source type vocabulary (None when only annotations were drawn)."""
    signed: bool = False
    """Whether the output carries signed content credentials (C2PA)."""

    def summary(self) -> str:
        mark = f", watermark id {self.watermark_id}" if self.watermark_id else ""
        mark += ", signed (C2PA)" if self.signed else ""
        if self.faces_found is not None:
            return (f"{self.faces_found} face(s) found, {self.faces_selected} selected, {self.faces_swapped} "
                    f"swapped, {self.seconds:.2f} s{mark}, engine {self.engine}")
        text = (f"{self.frames} frame(s), {self.faces_swapped} face swap(s), {self.seconds:.1f} s{mark}, "
                f"engine {self.engine}")
        if self.resumed_from:
            text += f", resumed at frame {self.resumed_from}"
        if self.failed_frames:
            text += f", {len(self.failed_frames)} frame(s) failed and were kept unprocessed: {self.failed_frames[:10]}"
        return text


def _preview(frame: FrameBGR) -> FrameBGR:
    return fit_within(frame, PREVIEW_SIZE)


def run(job: Job, options: Options, stop: threading.Event | None = None,
        studio: Studio | None = None) -> Iterator[Progress | RunResult]:
    """Process ``job``; yield progress, then the result. Setting ``stop`` ends the run at the next
    frame with :class:`StoppedError` (completed segments are kept for a later resume). ``studio``: one
    made with these options and the job's policy and kept by a long-lived worker (its models stay loaded;
    it is not closed here)."""
    stop = stop or threading.Event()
    if is_image_path(job.target):
        events = _run_image(job, options, stop, studio)
    elif is_video_path(job.target):
        events = _run_video(job, options, stop, studio)
    else:
        raise InvalidInputError(f"unsupported target type '{Path(job.target).suffix}': {job.target}; give an "
                                "image (jpg, png, webp, bmp, tiff) or a video (mp4, mov, mkv, webm, avi)")
    yield from signed_and_audited(job, events)


def signed_and_audited(job: Job, events: Iterator[Progress | RunResult]) -> Iterator[Progress | RunResult]:
    """``events``, with the output signed (when the operator gave C2PA credentials) and every refusal and
    every written output appended to the operator's audit log."""
    log, inputs = job.safety.audit_log, {"sources": list(job.sources), "target": job.target}
    credentials = None
    if job.safety.c2pa_cert and job.safety.c2pa_key and job.output is not None:
        credentials = load_credentials(job.safety.c2pa_cert, job.safety.c2pa_key)
    try:
        for event in events:
            if isinstance(event, RunResult) and event.output_path is not None:
                if credentials is not None:
                    _sign(event, credentials, job.target)
                audit.record(log, "written", **inputs, output=str(event.output_path), watermark_id=event.watermark_id)
            yield event
    except RefusedError as error:
        audit.record(log, "refused", **inputs, reason=error.message)
        raise


def _sign(result: RunResult, credentials: Credentials, target: str) -> None:
    """Sign the result's file; a failure removes it (an output that should be signed is never left unsigned)."""
    from . import __version__

    assert result.output_path is not None
    try:
        warning = sign_output(result.output_path, credentials, target=target, source_type=result.source_type,
                              software=f"facefusion-studio {__version__}")
    except Exception as error:
        result.output_path.unlink(missing_ok=True)
        if isinstance(error, StorageError):
            raise
        raise InvalidInputError(f"the output could not be signed (C2PA: {error}); nothing was kept") from None
    if warning is None:
        result.signed = True
    else:
        logger.warning(warning)
        result.warnings.append(warning)


def run_to_end(job: Job, options: Options, stop: threading.Event | None = None,
               studio: Studio | None = None) -> RunResult:
    """The blocking form of :func:`run`."""
    for event in run(job, options, stop, studio):
        if isinstance(event, RunResult):
            return event
    raise RuntimeError("the pipeline ended without a result")


@contextlib.contextmanager
def studio_for(job: Job, options: Options, kept: Studio | None, stop: threading.Event | None = None
               ) -> Iterator[Studio]:
    """The worker's kept studio, or a new one closed at the end of the run; either sees ``stop``."""
    if kept is not None:
        if kept.options != options or kept.safety != job.safety:
            raise ValueError("a kept studio must have the run's options and the job's safety policy")
        kept.start_run(stop)
        yield kept
        return
    with Studio(options, safety=job.safety) as studio:
        studio.start_run(stop)
        yield studio


def _run_image(job: Job, options: Options, stop: threading.Event, kept: Studio | None = None
               ) -> Iterator[Progress | RunResult]:
    start = time.perf_counter()
    with studio_for(job, options, kept, stop) as studio:
        report = studio.swap_image(list(job.sources), job.target, job.output, list(job.face_map),
                                   job.reference_face_path)
        engine, source_type = studio.engine, studio.digital_source_type
    seconds = time.perf_counter() - start
    yield Progress(frame=1, total=1, fps=1 / max(seconds, 1e-6), eta=0.0, preview=_preview(report.frame))
    yield RunResult(output_path=report.output_path, frames=1, faces_swapped=report.faces_swapped, failed_frames=[],
                    seconds=seconds, engine=engine, warnings=report.warnings, frame=report.frame,
                    faces_found=report.faces_found, faces_selected=report.faces_selected,
                    watermark_id=report.watermark_id, source_type=source_type)


@dataclass(frozen=True)
class Schedule:
    """Which input frame becomes each output frame, and its output timestamp."""

    inputs: tuple[int, ...]
    pts: tuple[int, ...]
    time_base: Fraction
    rate: Fraction
    start_time: float
    end_time: float


def make_schedule(info: VideoInfo, options: Options) -> Schedule:
    start = options.trim_frame_start or 0
    end = min(options.trim_frame_end or info.frame_count, info.frame_count)
    if start >= info.frame_count:
        raise InvalidInputError(f"--trim-frame-start {start} is past the last frame ({info.frame_count - 1})")
    start_time = info.frame_time(start)
    end_time = info.frame_time(end) if end < info.frame_count else info.frame_time(0) + info.duration
    if options.output_video_fps is None:
        rate = Fraction(round(info.fps * 1000), 1000)
        return Schedule(inputs=tuple(range(start, end)), pts=info.frame_pts[start:end], time_base=info.time_base,
                        rate=rate, start_time=start_time, end_time=end_time)
    rate = Fraction(round(options.output_video_fps * 1000), 1000)
    time_base = Fraction(1, 90000)
    times = np.array([info.frame_time(index) for index in range(start, end)])
    inputs, pts = [], []
    count = int(np.floor((end_time - start_time) * float(rate) + 1e-6))
    for k in range(max(count, 1)):
        moment = start_time + k / float(rate)
        inputs.append(start + int(max(0, np.searchsorted(times, moment + 1e-6) - 1)))
        pts.append(round(moment / float(time_base)))
    return Schedule(inputs=tuple(inputs), pts=tuple(pts), time_base=time_base, rate=rate,
                    start_time=start_time, end_time=end_time)


def render_worker_count(options: Options) -> int:
    if options.execution_thread_count:
        return options.execution_thread_count
    return CPU_RENDER_WORKERS if list(options.execution_providers) == ["cpu"] else GPU_RENDER_WORKERS


def _fingerprint(job: Job, options: Options, info: VideoInfo) -> str:
    """What a saved partial run must match to be continued: inputs (path, size, time), options, layout."""
    files = [Path(path) for path in (job.target, *job.sources, *face_map_files(job.face_map),
                                     job.reference_face_path or "") if path]
    described: object = [(str(file.resolve()), file.stat().st_size, file.stat().st_mtime_ns) for file in files
                         if file.is_file()]
    if job.inputs_id is not None:
        described = job.inputs_id
    # How the work is spread over threads and devices does not change the frames: a run started on the
    # CPU may be finished on a GPU.
    pixels = {name: value for name, value in asdict(options).items() if option_specs()[name].group != "execution"}
    payload = json.dumps({"files": described, "face_map": list(job.face_map), "options": pixels,
                          "frames": info.frame_count, "segment": job.segment_frames}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


_END = object()


def _decoder(info: VideoInfo, first: int, last: int, out: queue.Queue, stop: threading.Event) -> None:
    try:
        for decoded in read_frames(info, first, last + 1):
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


def _encoder(jobs: queue.Queue, errors: list[BaseException], marker: VideoMarker | None,
             painter: LabelPainter | None) -> None:
    """Writes the segments; each frame gets the visible label (with ``painter``) and the invisible watermark
    (with ``marker``) first: here, beside the drawing, not in its way."""
    writer: SegmentWriter | None = None
    while True:
        item = jobs.get()
        if item is _END:
            return
        kind, payload = item
        try:
            if kind == "open":
                writer = SegmentWriter(*payload)
            elif kind == "frame" and writer is not None:
                image, pts = payload
                writer.write(_marked(image, painter, marker), pts)
            elif kind == "close" and writer is not None:
                parts, number, swaps, failed = payload
                writer.close()
                parts.record(number, writer.frames, swaps, failed)
                writer = None
            elif kind == "abandon" and writer is not None:
                writer.abandon()
                writer = None
        except BaseException as error:  # noqa: BLE001 - reported by the producer
            errors.append(error)
            if writer is not None:
                writer.abandon()
                writer = None


def _marked(frame: FrameBGR, painter: LabelPainter | None, marker: VideoMarker | None) -> FrameBGR:
    """The frame as it is written: the visible label first, then the invisible watermark over everything."""
    frame = painter.draw(frame) if painter is not None else frame
    return marker.mark(frame) if marker is not None else frame


def video_settings(job: Job, options: Options) -> tuple[Path, VideoInfo, EncoderSettings, Schedule, list[str]]:
    """What a video run writes, read from the job before any model loads: (output, the target's info, the
    encoder, which input frame becomes each output frame, warnings)."""
    if job.output is None:
        raise InvalidInputError("a video target needs an output path (-o)")
    output = check_output_path(job.output, [job.target, *job.sources], OUTPUT_VIDEO_EXTENSIONS, "a video")
    info = probe_video(job.target)
    warnings: list[str] = []
    settings = EncoderSettings(options.output_video_encoder, options.output_video_preset, options.output_video_quality)
    if output.suffix.lower() == ".webm" and settings.encoder not in WEBM_ENCODERS:
        warnings.append(f"webm holds VP9 or AV1 video: using libvpx-vp9 instead of {settings.encoder}")
        settings = EncoderSettings("libvpx-vp9", settings.preset, settings.quality)
    schedule = make_schedule(info, options)
    if options.output_video_fps is not None and abs(options.output_video_fps - info.fps) > 0.01:
        # Said in numbers: 1 fps on a 1.6 s clip is one frame, which surprises nobody who reads it.
        seconds = schedule.end_time - schedule.start_time
        warnings.append(f"--output-video-fps {options.output_video_fps:g}: {len(schedule.inputs)} frame(s) for "
                        f"{seconds:.1f} s (the target has {info.fps:.3g} fps)")
    return output, info, settings, schedule, warnings


def plan_video(studio: Studio, job: Job, info: VideoInfo, schedule: Schedule) -> tuple[SwapPlan, set[int]]:
    """The run's identities (computed once) and the content checks of the target; returns the plan and the
    output positions the content checks look at while drawing."""
    reference_frame = (read_image(job.reference_face_path).frame if job.reference_face_path
                       else next(read_frames(info, schedule.inputs[0], schedule.inputs[0] + 1)).image)
    plan = studio.plan(list(job.sources), reference_frame, list(job.face_map), job.reference_face_path)
    return plan, _check_target_frames(studio, info, schedule, job.target)


def engine_description(studio: Studio, watermark_id: int | None) -> str:
    """What the output's metadata says made it: engine, IPTC digital source type, watermark id."""
    note = studio.engine
    if studio.digital_source_type:
        note += f"; IPTC digital source type: {studio.digital_source_type}"
    if watermark_id is not None:
        note += f"; watermark id {format_id(watermark_id)}"
    return note


def join_segments(parts: WorkFolder, segments_total: int, info: VideoInfo, output: Path, schedule: Schedule,
                  options: Options, description: str, warnings: list[str]) -> None:
    """Join the finished segments with the target's audio into ``output`` (no re-encoding), then drop them."""
    segments = [parts.segment(number) for number in range(segments_total)]
    shift = schedule.start_time if options.trim_frame_start else 0.0
    try:
        assemble(segments, info, output, schedule.start_time if options.trim_frame_start else -float("inf"),
                 schedule.end_time if options.trim_frame_end else float("inf"), shift, description=description,
                 keep_audio=options.output_audio_volume > 0, volume=options.output_audio_volume / 100)
    except StorageError as error:
        raise StorageError(f"{error.message}; every segment is rendered and kept in {parts.folder}: the same "
                           "command only joins them") from None
    parts.remove()
    if not info.audio_streams and options.output_audio_volume > 0:
        warnings.append("the target has no audio: the output has none either")


def render_segment(studio: Studio, plan: SwapPlan, job: Job, options: Options, number: int, path: Path,
                   watermark_id: int | None, checked: set[int] = frozenset()) -> tuple[int, int, list[int]]:
    """Render output segment ``number`` of ``job`` alone into ``path``: (frames, face swaps, failed input
    frames). Gives the frames the whole run gives for that segment (tracking restarts at each segment there
    too), so segments made apart, on several workers, join into the same video. ``checked``: output positions
    the content checks look at."""
    _, info, settings, schedule, _ = video_settings(job, options)
    total, size = len(schedule.inputs), max(1, job.segment_frames)
    first, end = number * size, min(total, (number + 1) * size)
    if first >= end:
        raise InvalidInputError(f"segment {number} is past the end of {job.target}")
    width = round(info.width * studio.frame_scale * options.output_video_scale)
    height = round(info.height * studio.frame_scale * options.output_video_scale)
    marker = VideoMarker(watermark_id) if options.output_watermark and watermark_id is not None else None
    painter = label_painter(options)
    tracker = FaceTracker(studio.analyser, rate=float(schedule.rate),
                          decide=_identities_for(studio, plan, options, job.target),
                          meshless_tracks=studio.works_without_mesh)
    writer = SegmentWriter(path, width, height, schedule.time_base, schedule.rate, settings)
    swaps, failed = 0, []
    try:
        decoded = read_frames(info, schedule.inputs[first], schedule.inputs[end - 1] + 1)
        current, drawn = None, None
        for position in range(first, end):
            wanted = schedule.inputs[position]
            if current is None or current.index < wanted:
                while current is None or current.index < wanted:
                    current = next(decoded, None)
                    if current is None:
                        raise InvalidInputError(f"the video ended early at frame {wanted}: {job.target}")
                context, error = _analyse(studio, tracker, current.image, current.index)
                drawn = _render(studio, current.image, context, error)
            image, count, error = drawn  # type: ignore[misc]
            if error is not None:
                failed.append(wanted)
            swaps += count
            frame = resized(image, options.output_video_scale)
            if position in checked:
                studio.refuse_content(frame, f"frame {position} of the output for {Path(job.target).name}", "output")
            writer.write(_marked(frame, painter, marker), schedule.pts[position])
        writer.close()
    except BaseException:
        writer.abandon()
        raise
    finally:
        tracker.close()
    return end - first, swaps, failed


def _check_target_frames(studio: Studio, info: VideoInfo, schedule: Schedule, target: str) -> set[int]:
    """Run the content checks on frames spread over the target (before any work); return the output positions
    to check while drawing (none without checks)."""
    if not studio.checks_content:
        return set()
    positions = sample_positions(len(schedule.inputs))
    for position in sorted(positions):
        index = schedule.inputs[position]
        for decoded in read_frames(info, index, index + 1):
            studio.refuse_content(decoded.image, f"frame {index} of the target {Path(target).name}", "target")
    return positions


def _identities_for(studio: Studio, plan, options: Options, target: str):
    def decide(frame: FrameBGR, new_faces: list[Face]) -> list[Identity | None]:
        ordered, assignments = assign_faces(frame, new_faces, plan, options, studio.analyser)
        # Each face is checked once, when it is first seen: what a run swaps is what it decided here.
        studio.refuse_protected_targets(frame, assignments, f"the target {Path(target).name}")
        by_face = {id(assignment.face): assignment.identity for assignment in assignments}
        # assign_faces may return embedded copies in its own order: match them back by position.
        return [by_face.get(id(face)) for face in _align(new_faces, ordered)]
    return decide


def _align(original: list[Face], ordered: list[Face]) -> list[Face]:
    """``ordered`` holds the same faces (maybe copied with embeddings) in another order: return them
    in the order of ``original``, matched by box."""
    result = []
    for face in original:
        result.append(min(ordered, key=lambda other: float(np.abs(other.bbox - face.bbox).sum())))
    return result


def _run_video(job: Job, options: Options, stop: threading.Event, kept: Studio | None = None
               ) -> Iterator[Progress | RunResult]:
    held: list[WorkFolder] = []
    try:
        with single_threaded_opencv():
            yield from _render_video(job, options, stop, held, kept)
    finally:
        for parts in held:  # the work folder's lock, however the run ended
            parts.release()


def _render_video(job: Job, options: Options, stop: threading.Event, held: list[WorkFolder],
                  kept: Studio | None = None) -> Iterator[Progress | RunResult]:
    started = time.perf_counter()
    output, info, settings, schedule, warnings = video_settings(job, options)
    total = len(schedule.inputs)
    segment_frames = max(1, job.segment_frames)
    segments_total = (total + segment_frames - 1) // segment_frames
    failed: list[int] = []
    swaps = 0
    with studio_for(job, options, kept, stop) as studio:
        plan, output_samples = plan_video(studio, job, info, schedule)
        # Only once the models are ready and the sources found: a setup error leaves no parts folder behind.
        parts = WorkFolder(output, _fingerprint(job, options, info), job.resume, job.watermark_id)
        held.append(parts)
        expected = [min(segment_frames, total - number * segment_frames) for number in range(segments_total)]
        records = parts.finished(expected)
        done_segments = len(records)
        first_output = min(total, done_segments * segment_frames)
        # What the finished segments hold counts in the report as if this run had made them.
        swaps = sum(record.swaps for record in records)
        failed.extend(index for record in records for index in record.failed_frames)
        segment_swaps, segment_failed = swaps, len(failed)
        if first_output:
            logger.info("resuming at frame %d of %d (%d segment(s) already done)", first_output, total, done_segments)
        # The writer is sized for what the processors produce (a frame enhancer enlarges every frame).
        width = round(info.width * studio.frame_scale * options.output_video_scale)
        height = round(info.height * studio.frame_scale * options.output_video_scale)
        enhancer = next((processor for processor in studio.processors if isinstance(processor, FrameEnhancer)), None)
        if enhancer is not None and first_output < total:
            seconds, estimate = frame_enhancer_estimate(enhancer, info.width, info.height, total - first_output)
            logger.warning(estimate)
            warnings.append(estimate)
            # Said before the first frame, so the page can show it while the work starts.
            yield Progress(frame=first_output, total=total, fps=0.0, eta=seconds, note=estimate)
        engine, source_type = studio.engine, studio.digital_source_type
        engine_note = engine_description(studio, parts.watermark_id if options.output_watermark else None)
        tracker = FaceTracker(studio.analyser, rate=float(schedule.rate), decide=_identities_for(studio, plan, options, job.target),
                              meshless_tracks=studio.works_without_mesh)
        frames: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        encode_jobs: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        encode_errors: list[BaseException] = []
        decoder_stop = threading.Event()
        if first_output < total:
            decoder = threading.Thread(target=_decoder, daemon=True, args=(
                info, schedule.inputs[first_output], schedule.inputs[-1], frames, decoder_stop))
            decoder.start()
        marker = VideoMarker(parts.watermark_id) if options.output_watermark else None
        if marker is not None:
            logger.info("watermark id %s", format_id(parts.watermark_id))
        encoder = threading.Thread(target=_encoder, args=(encode_jobs, encode_errors, marker,
                                                            label_painter(options)), daemon=True)
        encoder.start()
        current = None
        most_faces = 0
        last_preview = 0.0
        loop_start = time.perf_counter()
        pending: deque[tuple[int, Future]] = deque()
        render_workers = render_worker_count(options)
        workers = ThreadPoolExecutor(max_workers=render_workers, thread_name_prefix="render")

        def emit(position: int, future: Future) -> Iterator[Progress]:
            nonlocal swaps, last_preview
            image, count, error = future.result()
            if error is not None:
                failed.append(schedule.inputs[position])
            swaps += count
            frame_out = resized(image, options.output_video_scale)
            if position in output_samples:
                studio.refuse_content(frame_out, f"frame {position} of the output for {Path(job.target).name}",
                                      "output")
            encode_jobs.put(("frame", (frame_out, schedule.pts[position])))
            done = position + 1
            fps = (done - first_output) / max(time.perf_counter() - loop_start, 1e-6)
            preview = None
            if time.perf_counter() - last_preview >= PREVIEW_EVERY or done == total:
                preview = _preview(frame_out)
                last_preview = time.perf_counter()
            yield Progress(frame=done, total=total, fps=fps, eta=(total - done) / max(fps, 1e-6), preview=preview)

        try:
            future: Future | None = None
            for position in range(first_output, total):
                if stop.is_set():
                    raise StoppedError("stopped by the user; run the same command again to continue")
                if encode_errors:
                    raise encode_errors[0]
                if position % segment_frames == 0:
                    while pending:
                        yield from emit(*pending.popleft())
                    if position > first_output:
                        encode_jobs.put(("close", (parts, position // segment_frames - 1, swaps - segment_swaps,
                                                   failed[segment_failed:])))
                        segment_swaps, segment_failed = swaps, len(failed)
                    tracker.reset()
                    release_freed_memory()
                    encode_jobs.put(("open", (parts.segment(position // segment_frames), width, height,
                                              schedule.time_base, schedule.rate, settings)))
                wanted = schedule.inputs[position]
                if current is None or current.index < wanted:
                    while current is None or current.index < wanted:
                        item = frames.get()
                        if isinstance(item, BaseException):
                            raise item
                        if item is _END:
                            raise InvalidInputError(f"the video ended early at frame {wanted}: {job.target}")
                        current = item
                    # Tracking is sequential (each frame starts from the last); drawing the faces is
                    # not, so it runs on worker threads while the next frame is analysed.
                    context, error = _analyse(studio, tracker, current.image, current.index)
                    if context is not None:
                        most_faces = max(most_faces, len(context.faces))
                    future = workers.submit(_render, studio, current.image, context, error)
                pending.append((position, future))
                while len(pending) > render_workers + 1:
                    yield from emit(*pending.popleft())
            while pending:
                yield from emit(*pending.popleft())
            if first_output < total:
                encode_jobs.put(("close", (parts, segments_total - 1, swaps - segment_swaps, failed[segment_failed:])))
            encode_jobs.put(_END)
            encoder.join()
            if encode_errors:
                raise encode_errors[0]
        except BaseException as error:
            decoder_stop.set()
            for _, waiting in pending:
                waiting.cancel()
            encode_jobs.put(("abandon", None))
            encode_jobs.put(_END)
            encoder.join(timeout=30)
            if not parts.has_finished() or isinstance(error, RefusedError):
                parts.remove()  # nothing worth resuming (or allowed to be): the failure leaves nothing behind
            elif isinstance(error, StorageError):
                raise StorageError(f"{error.message}; the finished segments in {parts.folder} are kept: the "
                                   "same command continues from them") from None
            raise
        finally:
            decoder_stop.set()
            workers.shutdown(wait=True, cancel_futures=True)
            tracker.close()
        warnings.extend(studio.setup_warnings)
        unmatched = sorted(position for position in plan.by_position if position >= most_faces)
        if unmatched and first_output < total:
            warnings.append(f"--face-map position(s) {', '.join(map(str, unmatched))} match no face: no frame "
                            f"has more than {most_faces} face(s), counted from 0 in --face-selector-order "
                            f"{options.face_selector_order}")
        if tracker.unfitted and "face_swapper" in options.processors:
            warnings.append(unfitted_note(tracker.unfitted, " at the full detections (every few frames)"))
    join_segments(parts, segments_total, info, output, schedule, options, engine_note, warnings)
    for message in warnings:
        logger.warning(message)
    return_value = RunResult(output_path=output, frames=total, faces_swapped=swaps, failed_frames=failed,
                             seconds=time.perf_counter() - started, engine=engine, resumed_from=first_output,
                             warnings=warnings,
                             watermark_id=format_id(parts.watermark_id) if options.output_watermark else None,
                             source_type=source_type)
    yield return_value


def _analyse(studio: Studio, tracker: FaceTracker, image: FrameBGR, index: int
             ) -> tuple[FrameContext | None, Exception | None]:
    """Follow the faces into this frame. A failure is returned, not raised: one bad frame must not
    end a long run (the frame is then written unprocessed and reported)."""
    try:
        tracks = tracker.update(image)
    except (StoppedError, MemoryError, RefusedError):
        raise
    except Exception as error:  # noqa: BLE001 - see docstring
        _log_failure(index, error)
        tracker.reset()
        return None, error
    assignments = [Assignment(face=track.face, identity=track.identity) for track in tracks
                   if track.identity is not None]
    return FrameContext(faces=[track.face for track in tracks], assignments=assignments,
                        stopwatch=studio.stopwatch, stop=studio.stop), None


def _render(studio: Studio, image: FrameBGR, context: FrameContext | None, error: Exception | None
            ) -> tuple[FrameBGR, int, Exception | None]:
    """Run the processors on a copy of the frame: (frame, faces swapped, error)."""
    if context is None:
        return image, 0, error
    try:
        result = run_processors(studio.processors, image, context)
    except (StoppedError, MemoryError):
        raise
    except Exception as failure:  # noqa: BLE001 - one bad frame must not end a long run
        _log_failure(-1, failure)
        return image, 0, failure
    return result, studio.swappable(context.assignments), None


def _log_failure(index: int, error: Exception) -> None:
    where = f"frame {index}" if index >= 0 else "a frame"
    logger.debug("%s failed", where, exc_info=error)
    logger.warning("%s could not be processed (%s: %s); it is kept unprocessed", where, type(error).__name__, error)


def swap_video(sources: str | list[str], target: str, output: str, *, face_map: list[str] | None = None,
               reference_face_path: str | None = None, options: Options | None = None,
               stop: threading.Event | None = None, **option_values: object) -> RunResult:
    """Blocking one-call form for a video (or image) target: returns the :class:`RunResult`."""
    from .options import make_options

    source_list = [sources] if isinstance(sources, str) else list(sources)
    if options is None:
        options = make_options(**option_values)
    elif option_values:
        options = options.replace(**option_values)
    job = Job(sources=tuple(map(str, source_list)), target=str(target), output=str(output),
              face_map=tuple(face_map or ()), reference_face_path=reference_face_path)
    return run_to_end(job, options, stop)

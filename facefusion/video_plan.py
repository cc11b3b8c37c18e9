"""A video run's plan, made once: what is written (output, encoder, which input frame becomes each output
frame), the identities, the content checks of the target, and the segment ledger's key.

The local run and the Ray driver make it; Ray's actors receive it with each segment and probe nothing.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from .assign import SwapPlan
from .engine import Studio
from .errors import InvalidInputError
from .media.image import check_output_path, read_image
from .media.video import OUTPUT_VIDEO_EXTENSIONS, WEBM_ENCODERS, EncoderSettings, VideoInfo, probe_video, read_frames
from .options import Options, option_specs
from .processors.background_remover import makes_transparency
from .run_types import Job
from .safety.moderation import sample_positions
from .safety.watermark import format_id
from .sources import face_map_files


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
        inputs.append(start + max(0, int(np.searchsorted(times, moment + 1e-6)) - 1))
        pts.append(round(moment / float(time_base)))
    return Schedule(inputs=tuple(inputs), pts=tuple(pts), time_base=time_base, rate=rate,
                    start_time=start_time, end_time=end_time)


@dataclass(frozen=True)
class VideoLayout:
    """What a video run writes, read from the job before any model loads."""

    output: Path
    info: VideoInfo
    settings: EncoderSettings
    schedule: Schedule
    warnings: tuple[str, ...]

    @property
    def total(self) -> int:
        """Output frames."""
        return len(self.schedule.inputs)


def video_layout(job: Job, options: Options) -> VideoLayout:
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
    if makes_transparency(options):
        if output.suffix.lower() == ".webm":
            settings = replace(settings, alpha=True)  # VP9 keeps the transparency
        else:
            warnings.append(f"a {output.suffix} video keeps no transparency: the removed background shows its fill "
                            "colour (write .webm for a transparent one, or paint it with "
                            "--background-remover-fill-color R G B 255)")
    if options.output_video_fps is not None and abs(options.output_video_fps - info.fps) > 0.01:
        # Said in numbers: 1 fps on a 1.6 s clip is one frame, which surprises nobody who reads it.
        seconds = schedule.end_time - schedule.start_time
        warnings.append(f"--output-video-fps {options.output_video_fps:g}: {len(schedule.inputs)} frame(s) for "
                        f"{seconds:.1f} s (the target has {info.fps:.3g} fps)")
    return VideoLayout(output, info, settings, schedule, tuple(warnings))


@dataclass(frozen=True)
class VideoPlan:
    """Everything a worker needs to draw any segment of the run, made once."""

    layout: VideoLayout
    swap: SwapPlan
    checked: frozenset[int]
    """Output positions the content checks look at while drawing (none without checks)."""
    width: int
    height: int
    """The written frames' size: what the processors make (a frame enhancer enlarges), times the output scale."""

    def on(self, target: str) -> VideoPlan:
        """The same plan reading the target from ``target`` (a worker's copy of the file)."""
        return replace(self, layout=replace(self.layout, info=replace(self.layout.info, path=target)))


def plan_video(studio: Studio, job: Job, layout: VideoLayout) -> VideoPlan:
    """The run's identities (computed once) and the content checks of the target."""
    info, schedule = layout.info, layout.schedule
    reference_frame = (read_image(job.reference_face_path).frame if job.reference_face_path
                       else next(read_frames(info, schedule.inputs[0], schedule.inputs[0] + 1)).image)
    swap = studio.plan(list(job.sources), reference_frame, list(job.face_map), job.reference_face_path)
    scale, output_scale = studio.frame_scale, studio.options.output_video_scale
    return VideoPlan(layout, swap, frozenset(_check_target_frames(studio, layout, job.target)),
                     round(info.width * scale * output_scale), round(info.height * scale * output_scale))


def _check_target_frames(studio: Studio, layout: VideoLayout, target: str) -> set[int]:
    """Run the content checks on frames spread over the target (before any work); return the output positions
    to check while drawing (none without checks)."""
    if not studio.gate.checks_content:
        return set()
    positions = sample_positions(layout.total)
    for position in sorted(positions):
        index = layout.schedule.inputs[position]
        for decoded in read_frames(layout.info, index, index + 1):
            studio.gate.refuse_content(decoded.image, f"frame {index} of the target {Path(target).name}", "target")
    return positions


def fingerprint(job: Job, options: Options, info: VideoInfo) -> str:
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


def engine_description(studio: Studio, watermark_id: int | None) -> str:
    """What the output's metadata says made it: engine, IPTC digital source type, watermark id."""
    note = studio.engine
    if studio.digital_source_type:
        note += f"; IPTC digital source type: {studio.digital_source_type}"
    if watermark_id is not None:
        note += f"; watermark id {format_id(watermark_id)}"
    return note

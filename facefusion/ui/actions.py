"""What the page's events do, kept apart from the layout so they can be tested without a browser.

Library errors become ``gr.Error`` messages; the app stays up for the next request."""
from __future__ import annotations

import contextlib
import functools
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import gradio as gr
import numpy as np

from ..analysis.analyse import FaceAnalyser, analyser_for, analyser_key
from ..analysis.memo import Memo
from ..analysis.recognise import embedding_distance
from ..analysis.select import sort_faces
from ..engine import Studio
from ..errors import InvalidInputError, StoppedError, StudioError, storage_error, without_server_paths
from ..media.files import is_image_path, is_video_path, unsupported_target
from ..media.image import fit_within, output_suffix, over_checkerboard, read_image, write_image
from ..media.video import probe_video, read_frames
from ..options import Options
from ..pipeline import Job, Progress, RunResult, run
from ..processors.background_remover import makes_transparency
from ..safety.label import label_painter
from ..safety.policy import SafetyPolicy
from ..safety.watermark import Watermarker, new_output_id
from ..types import FrameBGR
from ..workers.studios import SessionPools
from .live import LiveSessions
from .uploads import UploadKeeper
from .webrtc import LiveTokens

logger = logging.getLogger("facefusion")

PREVIEW_MAX_SIDE = 960
THUMBNAIL_SIDE = 112
PREVIEW_MEMO_FRAMES = 8
"""Recent frames whose analysis the preview remembers (the target frame and the source photos)."""


def page_error(error: Exception) -> gr.Error:
    """The one-line message the page shows for a failure (library errors as they are worded)."""
    if isinstance(error, gr.Error):
        return error
    # The page shows file names only: where the server keeps uploads is none of a visitor's business.
    if isinstance(error, StudioError):
        return gr.Error(without_server_paths(error.message), print_exception=False)
    if isinstance(error, OSError) and error.errno is not None:
        logger.error("operating-system error", exc_info=error)
        return gr.Error(without_server_paths(storage_error(error).message), print_exception=False)
    logger.error("unexpected failure", exc_info=error)
    return gr.Error(without_server_paths(f"unexpected failure ({type(error).__name__}: {error}); the app keeps "
                                         "running"), print_exception=False)


def user_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Show failures as a readable message in the page instead of a traceback."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - every failure becomes a message, the app stays up
            raise page_error(error) from error
    return wrapper


def user_errors_stream(function: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """The same for generator handlers."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001
            raise page_error(error) from error
    return wrapper


@dataclass
class Engine:
    """What the app owns for all sessions: loaded models for previews, stop flags, the output folder."""

    output_dir: Path
    allow_downloads: bool = True
    """Whether the page may make the server download models (off by default when the app is exposed)."""
    uploads: UploadKeeper = field(default_factory=UploadKeeper)
    safety: SafetyPolicy = field(default_factory=SafetyPolicy)
    """The operator's policy (--protected-faces, --audit-log), for every run and preview of every session."""
    output_label: str | None = None
    """The visible label results get unless the page changes it (the operator's --output-label)."""
    marks_locked: bool = False
    """The page can neither change the label nor turn the watermark off: an app others can reach."""
    _analysers: dict[tuple[object, ...], tuple[FaceAnalyser, threading.Lock]] = field(default_factory=dict)
    """Each analyser with the lock its users hold: its mediapipe graphs take one picture at a time (two page
    events at once, the sources' gallery and the preview, broke a graph's timestamps)."""
    _stops: dict[str, threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    pools: SessionPools = field(default_factory=SessionPools)
    """Model sessions per execution settings, shared by every preview's studio."""
    _frames: Memo[tuple[str, int, int, int], FrameBGR] = field(default_factory=lambda: Memo(PREVIEW_MEMO_FRAMES))
    """Recently read target frames: a video frame costs a seek and a decode (about 0.1 s) per preview."""
    _watermarker: Watermarker | None = None
    _marking: threading.Lock = field(default_factory=threading.Lock)
    live: LiveSessions = field(default_factory=LiveSessions)
    """Each page session's live camera drawing (the Live tab)."""
    live_tokens: LiveTokens = field(default_factory=LiveTokens)
    """Rights to open one low-latency (WebRTC) connection each, given to the page's sessions."""

    def shown(self, frame: np.ndarray, options: Options) -> np.ndarray:
        """A processed picture as the page shows it (RGB, at most PREVIEW_MAX_SIDE): on an app others can
        reach it carries the operator's label and the invisible watermark, like every result, since a
        visitor can save it."""
        picture = fit_within(frame, PREVIEW_MAX_SIDE)
        if self.marks_locked:
            painter = label_painter(options)
            if painter is not None:
                picture = painter.draw(picture)
            with self._marking:
                if self._watermarker is None:
                    self._watermarker = Watermarker()
                picture = self._watermarker.mark(picture, new_output_id())
        return np.ascontiguousarray(picture[:, :, ::-1])

    def frame(self, path: str, frame_number: int) -> np.ndarray:
        """``target_frame``, remembered while the file is unchanged."""
        status = Path(path).stat()
        key = (str(Path(path).resolve()), status.st_mtime_ns, status.st_size, frame_number)
        with self._lock:
            remembered = self._frames.get(key)
        if remembered is None:
            remembered = target_frame(path, frame_number)
            with self._lock:
                self._frames.put(key, remembered)
        return remembered

    @contextlib.contextmanager
    def analysing(self, options: Options) -> Iterator[FaceAnalyser]:
        """The shared analyser for these options, held by this caller alone until the block ends."""
        key = analyser_key(options)
        with self._lock:
            if key not in self._analysers:
                self._analysers[key] = (analyser_for(options, memo_frames=PREVIEW_MEMO_FRAMES), threading.Lock())
            analyser, in_use = self._analysers[key]
        with in_use:
            yield analyser

    def stop_flag(self, session: str) -> threading.Event:
        with self._lock:
            flag = self._stops.setdefault(session, threading.Event())
        return flag

    def output_path(self, suffix: str) -> Path:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        # 128 random bits: a result's address cannot be guessed by another visitor.
        return self.output_dir / f"result-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex}{suffix}"

    def forget_analysers(self) -> None:
        """After a model download: "auto" choices made before it are made again with the new files. The
        old analysers are dropped, not closed, since a preview may still be using one."""
        with self._lock:
            self._analysers.clear()

    def close(self) -> None:
        self.live.close()
        for analyser, _ in self._analysers.values():
            analyser.close()
        self._analysers.clear()


def file_path(value: Any) -> str | None:
    """Path of an uploaded file as Gradio hands it over (a path string or a file object)."""
    if value is None:
        return None
    if isinstance(value, (str, Path)):
        return str(value)
    return str(getattr(value, "path", None) or getattr(value, "name", None) or value)


def source_paths(values: Any) -> list[str]:
    if not values:
        return []
    items = values if isinstance(values, list) else [values]
    return [path for path in (file_path(item) for item in items) if path]


def check_target(path: str | None) -> str:
    if not path:
        raise InvalidInputError("upload a target image or video")
    if not (is_image_path(path) or is_video_path(path)):
        raise InvalidInputError(unsupported_target(path))
    return path


def target_frame(path: str, frame_number: int) -> np.ndarray:
    """The target image, or frame ``frame_number`` of the target video (BGR)."""
    if is_image_path(path):
        return read_image(path).frame
    info = probe_video(path)
    index = int(min(max(frame_number, 0), info.frame_count - 1))
    for decoded in read_frames(info, index, index + 1):
        return decoded.image
    raise InvalidInputError(f"frame {index} could not be read from {Path(path).name}")


def to_rgb(frame: np.ndarray, max_side: int = PREVIEW_MAX_SIDE) -> np.ndarray:
    return np.ascontiguousarray(fit_within(frame, max_side)[:, :, ::-1])


def video_length(path: str | None) -> int:
    return probe_video(path).frame_count if path and is_video_path(path) else 1


def preview(engine: Engine, options: Options, sources: list[str], target: str, frame_number: int,
            face_map: list[str], before_after: bool) -> tuple[np.ndarray, list[tuple[np.ndarray, str]]]:
    """The processed preview frame (RGB) and the gallery of faces found in it (in the chosen order)."""
    frame = engine.frame(target, frame_number)
    # The processors' model sessions come from the app's pools: a preview loads a model once, not each time.
    with engine.analysing(options) as analyser, Studio(options, analyser=analyser, safety=engine.safety,
                                                       pool=engine.pools.for_options(options)) as studio:
        faces = sort_faces(studio.analyser.analyse(frame), options.face_selector_order)
        result, chosen, reference = frame, set(), None
        if sources or face_map or "face_swapper" not in options.processors:
            plan = studio.plan(sources, frame, face_map)
            processed = studio.process_frame(frame, plan)
            studio.gate.refuse_protected_targets(frame, processed.assignments, "the preview frame")
            # A removed background shows as transparent (the fill colour, when it is opaque, shows as it is).
            result = over_checkerboard(processed.frame, processed.alpha)
            faces, reference = processed.faces, plan.reference_embedding
            chosen = {id(assignment.face) for assignment in processed.assignments}
    gallery = [(face_thumbnail(frame, face.bbox), face_label(index, face, id(face) in chosen, reference))
               for index, face in enumerate(faces)]
    shown = np.hstack([frame, result]) if before_after else result
    return engine.shown(shown, options), gallery


def face_label(index: int, face: Any, chosen: bool, reference: np.ndarray | None) -> str:
    """Gallery caption: position in the chosen order, size, and whether (and how near) it matches."""
    parts = [f"face {index}", f"{face.size:.0f} px"]
    if reference is not None and face.embedding is not None:
        parts.append(f"distance {embedding_distance(face.embedding, reference):.2f}")
    if chosen:
        parts.append("selected")
    return " · ".join(parts)


def _face_crop(frame: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    """A square crop that shows the whole face with some room around it (hair, chin), the face in the
    middle; padded with grey where the picture ends, so every thumbnail has the same shape."""
    x1, y1, x2, y2 = (float(value) for value in bbox)
    side = max(x2 - x1, y2 - y1) * 1.6
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    size = max(1, int(round(side)))
    padded = cv2.copyMakeBorder(frame, size, size, size, size, cv2.BORDER_CONSTANT, value=(60, 60, 60))
    return padded[top + size:top + 2 * size, left + size:left + 2 * size]


def face_thumbnail(frame: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    """The face as a square RGB thumbnail of THUMBNAIL_SIDE pixels."""
    crop = _face_crop(frame, bbox)
    return np.ascontiguousarray(cv2.resize(crop, (THUMBNAIL_SIDE, THUMBNAIL_SIDE), interpolation=cv2.INTER_AREA)[:, :, ::-1])


def source_thumbnails(engine: Engine, paths: list[str]) -> list[tuple[np.ndarray, str]]:
    """Each source photo's face (the largest), whole, as a captioned thumbnail; a photo without a face
    says so in its caption."""
    with engine.analysing(Options()) as analyser:
        return [_source_thumbnail(analyser, index, path) for index, path in enumerate(paths)]


def _source_thumbnail(analyser: FaceAnalyser, index: int, path: str) -> tuple[np.ndarray, str]:
    try:
        frame = read_image(path).frame
    except StudioError as error:
        return np.full((THUMBNAIL_SIDE, THUMBNAIL_SIDE, 3), 60, np.uint8), f"source {index}: {error.message}"
    faces = analyser.analyse(frame)
    if not faces:
        return to_rgb(frame, THUMBNAIL_SIDE), f"source {index}: no face found"
    face = max(faces, key=lambda item: item.size)
    return face_thumbnail(frame, face.bbox), f"source {index} · {face.size:.0f} px"


NEURAL_ONLY_OPTIONS = ("face_swapper_weight", "face_swapper_pixel_boost", "face_mask_types", "face_occluder_model",
                       "face_parser_model", "face_mask_regions")
"""Options only the neural swapper honours (the embedded engine keeps hands and hair out by itself)."""
NEURAL_ONLY_NOTE = ("Neural engine only: the embedded engine that runs now ignores this. Choose a neural "
                    "face swapper model (or download inswapper_128 and arcface_w600k_r50 under Models) to use it.")


def embedded_swapper_runs(choice: str) -> bool:
    """Whether --face-swapper-model ``choice`` ends up with the embedded (classical) engine."""
    from ..inference.download import models_dir
    from ..inference.resolve import choose
    from ..processors.face_swapper import INSWAPPER_MODELS

    if choice == "landmark":
        return True
    if choice == "auto":
        return choose(INSWAPPER_MODELS, models_dir(), needs=("arcface_w600k_r50",)) is None
    return False


@dataclass
class RunUpdate:
    """One step of a run for the page: live frame, status line, and at the end the results."""

    live: np.ndarray | None = None
    status: str = ""
    fraction: float = 0.0
    image: str | None = None
    video: str | None = None
    download: str | None = None
    report: str = ""


def start(engine: Engine, session: str, options: Options, sources: list[str], target: str, face_map: list[str],
          reference_frame: int) -> Iterator[RunUpdate]:
    """Run the whole target; yield live frames and progress, then the results."""
    target = check_target(target)
    stop = engine.stop_flag(session)
    stop.clear()
    video = is_video_path(target)
    output = engine.output_path(output_suffix(target, makes_transparency(options)))
    reference_path = None
    if video and options.face_selector_mode == "reference" and reference_frame > 0:
        reference_path = str(engine.output_path(".png"))
        write_image(reference_path, target_frame(target, reference_frame))
    job = Job(sources=tuple(sources), target=target, output=str(output), face_map=tuple(face_map),
              reference_face_path=reference_path, resume=False, safety=engine.safety)
    started = time.perf_counter()
    try:
        for event in run(job, options, stop):
            if isinstance(event, Progress):
                status = event.note or (f"frame {event.frame} of {event.total} · {event.fps:.1f} frames/s · "
                                         f"about {event.eta:.0f} s left")
                yield RunUpdate(live=engine.shown(event.preview, options) if event.preview is not None else None,
                                status=status,
                                fraction=event.frame / max(event.total, 1))
            elif isinstance(event, RunResult):
                yield RunUpdate(status="done", fraction=1.0, image=None if video else str(output),
                                video=str(output) if video else None, download=str(output),
                                report=report_text(event))
    except StoppedError:
        elapsed = time.perf_counter() - started
        yield RunUpdate(status=f"stopped after {elapsed:.1f} s; nothing was written", fraction=0.0,
                        report="Stopped by you. No result file was kept.")
    finally:
        if reference_path:
            Path(reference_path).unlink(missing_ok=True)


def report_text(result: RunResult) -> str:
    lines = [f"**Frames:** {result.frames}  ·  **faces swapped:** {result.faces_swapped}  ·  "
             f"**time:** {result.seconds:.1f} s",
             f"**Engine:** {result.engine}"]
    if result.watermark_id:
        lines.append(f"**Invisible watermark:** id {result.watermark_id} (`facefusion inspect FILE` reads it)")
    if result.faces_found is not None:
        lines.append(f"**Faces found:** {result.faces_found}, selected: {result.faces_selected}")
    if result.failed_frames:
        lines.append(f"**Frames that failed** (kept unprocessed): {len(result.failed_frames)} "
                     f"({', '.join(map(str, result.failed_frames[:20]))})")
    for warning in result.warnings:
        lines.append(f"⚠️ {warning}")
    return "\n\n".join(lines)


CONSENT_QUESTION = "The people whose faces I use have agreed to it"
CONSENT_NEEDED = (f"Nothing was started: tick “{CONSENT_QUESTION}” above Start first (asked once while this "
                  "page is open).")


def api_swap(engine: Engine, sources: list[str], target: str, options: Options, video: bool) -> str:
    """Blocking swap for the API endpoints: returns the output file's path."""
    target = check_target(target)
    if video != is_video_path(target):
        raise InvalidInputError("swap_video takes a video target and swap_image an image target")
    if not sources:
        raise InvalidInputError("give at least one source image")
    result = None
    for event in run(Job(sources=tuple(sources), target=target, output=str(engine.output_path(
            output_suffix(target, makes_transparency(options)))), resume=False, safety=engine.safety), options):
        if isinstance(event, RunResult):
            result = event
    assert result is not None and result.output_path is not None
    return str(result.output_path)


def model_table(exposed: bool = False) -> str:
    """Markdown table of the catalogue: which model files are present, with their licences (and, for the
    operator at this computer, where the models folder is; a visitor is not told the server's folders)."""
    from ..inference.catalogue import CATALOGUE
    from ..inference.download import is_present, models_dir

    folder = models_dir()
    rows = ["| model | role | present | licence |", "| --- | --- | --- | --- |"]
    for entry in CATALOGUE:
        present = "yes" if is_present(entry.name, folder) else "no"
        rows.append(f"| {entry.name} | {entry.role.replace('_', ' ')} | {present} | {entry.licence_label} |")
    from ..system import report

    # What the installation can run them on (providers, GPU, the CUDA it needs): the first thing to
    # look at when a GPU run is slow.
    installation = "\n".join(f"- {line}" for line in report())
    text = ("\n".join(rows) + f"\n\nModels folder: `{folder}` (put files there by hand when offline).\n\n"
            f"**This installation**\n\n{installation}")
    return without_server_paths(text) if exposed else text


def download_models(names: list[str], progress: Callable[[float, str], None] | None = None) -> str:
    """Download the chosen models (the page's one-click download); returns the refreshed table."""
    from ..inference.catalogue import with_companions
    from ..inference.download import download, models_dir

    if not names:
        raise InvalidInputError("choose the models to download")
    folder = models_dir()
    for entry in with_companions(names):

        def report(done: int, total: int | None, file: str = entry.file) -> None:
            if progress is not None:
                progress(done / total if total else 0.0, f"downloading {file}")
        download(entry, folder, progress=report)
    return model_table()


def on_gpu(function: Callable[..., Any]) -> Callable[..., Any]:
    """On a Hugging Face ZeroGPU Space (the `spaces` package present), mark work that may use the GPU
    as Spaces asks; elsewhere the function is returned as it is."""
    try:
        import spaces
    except ImportError:
        return function
    return spaces.GPU(duration=120)(function)


def new_output_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="facefusion-studio-"))


__all__ = ["Engine", "RunUpdate", "api_swap", "check_target", "file_path", "new_output_dir", "on_gpu",
           "preview",
           "source_paths", "start", "target_frame", "user_errors", "user_errors_stream", "video_length"]

"""One generator for every front end: process a target image or video, yield progress, then the result.

``run`` yields :class:`Progress` (frames done, total, frames per second, ETA, now and then a small
preview of the processed frame) and finally a :class:`RunResult`. The CLI draws a progress bar from
it, the web UI shows the previews live, and the API offers it as it is or as a blocking call.

A picture is one call of the engine (``image_job``). A video is drawn frame by frame (``frames``) into
resumable segments (``ledger``) next to the output path (``OUTPUT.parts/``): a run that is stopped, killed
or crashes continues from the last complete segment when the same command runs again, and gives the same
file as an uninterrupted run. The output appears under its name only when complete.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from .engine import Studio
from .errors import InvalidInputError, RefusedError, StorageError
from .ledger import SegmentLedger
from .media.files import is_image_path, is_video_path, unsupported_target
from .media.opencv_threads import single_threaded_opencv
from .options import Options
from .parts import WorkFolder
from .run_types import Job, Progress, RunResult
from .safety import audit
from .safety.provenance import Credentials, load_credentials, sign_output
from .safety.watermark import format_id
from .video_job import EncoderThread, LocalVideoRun, drawer_for, enhancer_estimate, preview, run_report
from .video_plan import engine_description, fingerprint, plan_video, video_layout

__all__ = ["Job", "Progress", "RunResult", "run", "run_to_end", "swap_video"]

logger = logging.getLogger("facefusion")


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
        raise InvalidInputError(unsupported_target(job.target))
    yield from signed_and_audited(job, events)


def signed_and_audited(job: Job, events: Iterator[Progress | RunResult]) -> Iterator[Progress | RunResult]:
    """``events``, with the output signed (when the operator gave C2PA credentials) and every refusal and
    every written output appended to the operator's audit log."""
    log, sources, target = job.safety.audit_log, list(job.sources), job.target
    credentials = None
    if job.safety.c2pa_cert and job.safety.c2pa_key and job.output is not None:
        credentials = load_credentials(job.safety.c2pa_cert, job.safety.c2pa_key)
    try:
        for event in events:
            if isinstance(event, RunResult) and event.output_path is not None:
                if credentials is not None:
                    _sign(event, credentials, job.target)
                audit.record(log, "written", sources=sources, target=target, output=str(event.output_path), watermark_id=event.watermark_id)
            yield event
    except RefusedError as error:
        audit.record(log, "refused", sources=sources, target=target, reason=error.message)
        raise


def _sign(result: RunResult, credentials: Credentials, target: str) -> None:
    """Sign the result's file; a failure removes it (an output that should be signed is never left unsigned)."""
    from .version import __version__

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
    yield Progress(frame=1, total=1, fps=1 / max(seconds, 1e-6), eta=0.0, preview=preview(report.frame))
    yield RunResult(output_path=report.output_path, frames=1, faces_swapped=report.faces_swapped, failed_frames=[],
                    seconds=seconds, engine=engine, warnings=report.warnings, frame=report.frame,
                    faces_found=report.faces_found, faces_selected=report.faces_selected,
                    watermark_id=report.watermark_id, source_type=source_type)


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
    layout = video_layout(job, options)
    warnings = list(layout.warnings)
    with studio_for(job, options, kept, stop) as studio:
        video = plan_video(studio, job, layout)
        # Only once the models are ready and the sources found: a setup error leaves no parts folder behind.
        parts = WorkFolder(layout.output, fingerprint(job, options, layout.info), job.resume, job.watermark_id)
        held.append(parts)
        ledger = SegmentLedger(parts, layout.total, job.segment_frames)
        estimate = enhancer_estimate(studio, video, ledger)
        if estimate is not None:
            seconds, note = estimate
            logger.warning(note)
            warnings.append(note)
            # Said before the first frame, so the page can show it while the work starts.
            yield Progress(frame=ledger.first_output, total=layout.total, fps=0.0, eta=seconds, note=note)
        engine, source_type = studio.engine, studio.digital_source_type
        watermark_id = parts.watermark_id if options.output_watermark else None
        if watermark_id is not None:
            logger.info("watermark id %s", format_id(watermark_id))
        description = engine_description(studio, watermark_id)
        drawer = drawer_for(studio, video, job, watermark_id)
        encoder = EncoderThread(ledger, drawer.marks)
        local = LocalVideoRun(drawer, video, ledger, encoder, job, stop)
        try:
            with ledger.kept_on_failure():
                try:
                    yield from local.frames()
                    encoder.finish()
                except BaseException:
                    local.shut()
                    encoder.abandon()
                    raise
        finally:
            local.shut()
            drawer.close()
        warnings.extend(run_report(studio, video, drawer.most_faces, drawer.unfitted, drawer.turned, ledger))
    ledger.join(layout, options, description, warnings)
    yield ledger.result(layout, started, engine, source_type, warnings, options.output_watermark)


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

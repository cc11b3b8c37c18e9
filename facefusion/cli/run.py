"""``headless-run`` (one target) and ``batch-run`` (every target a pattern matches)."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import EXIT_FAILURE, EXIT_OK, EXIT_REFUSED, InvalidInputError, RefusedError, StudioError
from ..options import Options
from ..safety.policy import policy_from_args
from .flags import EXIT_CODES_HELP, add_run_flags, add_source_flags, run_settings

logger = logging.getLogger("facefusion")


def add_run_commands(commands: Any) -> None:
    run = commands.add_parser(
        "headless-run", help="process one target without the UI", epilog=EXIT_CODES_HELP,
        description="Swap faces in a target image and write the result.")
    paths = run.add_argument_group("paths")
    add_source_flags(paths)
    paths.add_argument("-t", "--target-path", "--target", required=True, metavar="TARGET", help="the image or video to process")
    paths.add_argument("-o", "--output-path", "--output", required=True, metavar="OUTPUT",
                       help="where to write the result; its extension sets the format (jpg, png, webp for "
                            "images; mp4, mov, mkv, webm for videos)")
    paths.add_argument("--reference-face-path", default=None, metavar="IMAGE",
                       help="image that holds the reference face for --face-selector-mode reference "
                            "(default: the target itself)")
    add_run_flags(run)
    batch = commands.add_parser(
        "batch-run", help="process every target a pattern matches (with every source photo a pattern matches)",
        epilog=EXIT_CODES_HELP, description="One run per (source, target) pair; a run that fails is reported and "
        "the batch goes on (exit code 1 at the end if any failed).")
    patterns = batch.add_argument_group("patterns")
    patterns.add_argument("-s", "--source-pattern", nargs="+", default=[], metavar="PATTERN",
                          help="source photos, e.g. 'faces/*.jpg'; each is used on its own; leave out for "
                               "processors that need no source (enhancers)")
    patterns.add_argument("-t", "--target-pattern", nargs="+", required=True, metavar="PATTERN",
                          help="targets, e.g. 'clips/*.mp4' (several patterns or files may follow)")
    patterns.add_argument("-o", "--output-pattern", required=True, metavar="PATTERN",
                          help="output names with {index}, {source_name}, {target_name}, {target_extension}, e.g. "
                               "'out/{source_name}-{target_name}.{target_extension}'; missing folders are made")
    patterns.add_argument("--reference-face-path", default=None, metavar="IMAGE",
                          help="image that holds the reference face (default: each target itself)")
    add_run_flags(batch)


class ProgressBar:
    """A tqdm bar for video runs and a one-line summary for each finished run."""

    def __init__(self) -> None:
        self._bar: Any = None

    def show(self, event: object, label: str = "") -> None:
        from tqdm import tqdm

        from ..pipeline import Progress, RunResult

        if isinstance(event, Progress) and event.total > 1:
            if self._bar is None:
                self._bar = tqdm(total=event.total, initial=event.frame - 1, unit="frame", file=sys.stderr,
                                 dynamic_ncols=True, disable=None, desc=label or None)
            self._bar.update(event.frame - self._bar.n)
        elif isinstance(event, RunResult):
            self.close()
            logger.info("%swrote %s: %s", label + " " if label else "", event.output_path, event.summary())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextmanager
def ctrl_c_stops() -> Iterator[threading.Event]:
    """Ctrl-C ends the run: at once (KeyboardInterrupt), and through the run's stop event too, because Python drops
    a KeyboardInterrupt that lands while a finaliser runs (a decoder being freed, say); the event then still
    ends the run at its next frame with the same exit code."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield stop
        return

    def interrupted(number: int, frame: object) -> None:
        stop.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def headless_run(args: argparse.Namespace) -> int:
    from ..pipeline import Job, run

    options = run_settings(args)
    job = Job(sources=tuple(args.source_paths), target=args.target_path, output=args.output_path,
              face_map=tuple(args.face_map), reference_face_path=args.reference_face_path, resume=args.resume,
              segment_frames=args.video_segment_frames, safety=policy_from_args(args))
    bar = ProgressBar()
    try:
        with ctrl_c_stops() as stop:
            for event in run(job, options, stop):
                bar.show(event)
    finally:
        bar.close()
    remind_consent(options)
    return EXIT_OK


def batch_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..batch import BatchItem, expand_batch, run_batch
    from ..processors import MISSING_SOURCE, needs_source

    options = run_settings(args)
    if needs_source(options.processors) and not args.source_pattern:
        raise InvalidInputError(f"batch-run: {MISSING_SOURCE} (-s/--source-pattern)")
    items = expand_batch(args.source_pattern, args.target_pattern, args.output_pattern)
    failed: list[BatchItem] = []
    refused: list[BatchItem] = []
    bar = ProgressBar()
    try:
        with ctrl_c_stops() as stop:
            for item, event in run_batch(items, options, reference_face_path=args.reference_face_path,
                                         resume=args.resume, segment_frames=args.video_segment_frames,
                                         stop=stop, safety=policy_from_args(args)):
                label = f"[{item.index + 1}/{len(items)}]"
                if isinstance(event, StudioError):
                    bar.close()
                    logger.error("%s %s: %s", label, Path(item.target).name, event.message)
                    (refused if isinstance(event, RefusedError) else failed).append(item)
                else:
                    bar.show(event, label)
    finally:
        bar.close()
    names = {"failed": failed, "refused": refused}
    logger.info("batch done: %d of %d run(s) written%s", len(items) - len(failed) - len(refused), len(items),
                "".join(f"; {what}: {', '.join(Path(item.target).name for item in which)}"
                        for what, which in names.items() if which))
    remind_consent(options)
    # A refusal is the stronger news: a script must tell a safety check from a bad file.
    return EXIT_REFUSED if refused else EXIT_FAILURE if failed else EXIT_OK


def remind_consent(options: Options) -> None:
    """One line, never a prompt (scripts must run), under the report of a run that swapped faces (a run that
    failed already printed its one line)."""
    if "face_swapper" in options.processors:
        logger.info("reminder: use only the faces of people who have agreed to it, and say that the result is "
                    "AI-generated when you share it")

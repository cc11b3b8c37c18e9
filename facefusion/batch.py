"""Many runs from one command: every source photo on every target that glob patterns match.

``batch-run -s 'faces/*.jpg' -t 'clips/*.mp4' -o 'out/{source_name}-{target_name}.mp4'`` makes one run
per (source, target) pair, in a stable order, as FaceFusion's batch-run does. Everything that can be
checked before the first run is (patterns that match nothing, a placeholder that does not exist, two
runs writing the same file, an output overwriting an input), so a long batch does not fail half-way
on a typo. A run that fails on its own input is reported and the batch goes on.
"""
from __future__ import annotations

import glob
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InvalidInputError, StoppedError, StudioError
from .parts import SEGMENT_FRAMES

if TYPE_CHECKING:
    from .options import Options
    from .pipeline import Progress, RunResult
    from .safety.policy import SafetyPolicy

PLACEHOLDERS = ("index", "source_name", "target_name", "target_extension")


@dataclass(frozen=True)
class BatchItem:
    index: int
    source: str | None
    target: str
    output: str


def _matches(patterns: list[str], flag: str) -> list[str]:
    """Files the patterns match, sorted, each once. A shell that expanded an unquoted pattern hands over
    the file names themselves, which match too."""
    found: set[str] = set()
    for pattern in patterns:
        matched = [path for path in glob.glob(os.path.expanduser(pattern)) if Path(path).is_file()]
        if not matched:
            raise InvalidInputError(f"{flag} '{pattern}' matches no file")
        found.update(matched)
    return sorted(found)


def expand_batch(source_patterns: list[str], target_patterns: list[str], output_pattern: str) -> list[BatchItem]:
    """The runs the patterns stand for: each source with each target (targets alone without sources)."""
    sources: list[str | None] = list(_matches(source_patterns, "-s/--source-pattern")) if source_patterns else [None]
    targets = _matches(target_patterns, "-t/--target-pattern")
    items = []
    for index, (source, target) in enumerate((source, target) for source in sources for target in targets):
        fields = {"index": index, "source_name": Path(source).stem if source else "",
                  "target_name": Path(target).stem, "target_extension": Path(target).suffix.lstrip(".")}
        try:
            output = output_pattern.format(**fields)
        except (KeyError, IndexError, ValueError) as error:
            raise InvalidInputError(f"-o/--output-pattern '{output_pattern}': {error!s} is not a placeholder; use "
                                    + ", ".join("{" + name + "}" for name in PLACEHOLDERS)) from error
        items.append(BatchItem(index, source, target, os.path.expanduser(output)))
    outputs = [os.path.realpath(item.output) for item in items]
    if len(set(outputs)) < len(outputs):
        repeated = next(output for output in outputs if outputs.count(output) > 1)
        raise InvalidInputError(f"-o/--output-pattern gives several runs the same output ({repeated}); add {{index}} "
                                "or {target_name} (and {source_name} with several sources)")
    inputs = {os.path.realpath(path) for path in [*sources, *targets] if path}
    clash = next((output for output in outputs if output in inputs), None)
    if clash:
        raise InvalidInputError(f"-o/--output-pattern would overwrite an input ({clash}); write the results elsewhere")
    return items


BatchEvent = tuple[BatchItem, "Progress | RunResult | StudioError"]


def run_batch(items: list[BatchItem], options: Options, *, reference_face_path: str | None = None,
              resume: bool = True, segment_frames: int = SEGMENT_FRAMES, stop: threading.Event | None = None,
              safety: SafetyPolicy | None = None) -> Iterator[BatchEvent]:
    """Run the items in order, yielding (item, event): the run's Progress and RunResult events, or the
    StudioError that ended that item's run (the batch goes on). A stop ends the whole batch."""
    from .pipeline import Job, run
    from .safety.policy import SafetyPolicy

    for item in items:
        Path(item.output).parent.mkdir(parents=True, exist_ok=True)
        job = Job(sources=(item.source,) if item.source else (), target=item.target, output=item.output,
                  reference_face_path=reference_face_path, resume=resume, segment_frames=segment_frames,
                  safety=safety or SafetyPolicy())
        try:
            for event in run(job, options, stop):
                yield item, event
        except StoppedError:
            raise
        except StudioError as error:  # this pair's own input: reported, and the batch goes on
            yield item, error


def swap_batch(source_patterns: list[str], target_patterns: list[str], output_pattern: str, *,
               options: Options | None = None,
               **option_values: Any) -> list[tuple[BatchItem, RunResult | StudioError]]:
    """Blocking form: every source on every target the patterns match; returns each item with its
    RunResult or the error that stopped it. Mistakes in the patterns raise before any run."""
    from .options import make_options
    from .pipeline import RunResult

    if options is None:
        options = make_options(**option_values)
    elif option_values:
        options = options.replace(**option_values)
    items = expand_batch(list(source_patterns), list(target_patterns), output_pattern)
    return [(item, event) for item, event in run_batch(items, options)
            if isinstance(event, (RunResult, StudioError))]

"""The engine: one object that holds the models of a run and turns target frames into output frames.

A :class:`Studio` loads the face analysis and the processors the options name once, and keeps them for
many pictures and frames: ``plan`` reads the sources (and the reference face) once per run, and
``process_frame`` analyses one frame, chooses its faces and runs every processor on a copy of it. Its
``gate`` holds the operator's refusals and the marks of what leaves. The public one-call form is in
``facefusion.api``; a run over a video is in ``facefusion.pipeline``.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .analysis.analyse import FaceAnalyser, analyser_for
from .analysis.select import pick_reference
from .assign import Assignment, SwapPlan, assign_faces
from .errors import InvalidInputError
from .image_job import ImageResult, swap_image_file
from .inference.runtime import SessionPool, execution_settings, provider_list
from .options import Options
from .processors import MISSING_SOURCE, FrameContext, create_processors, declined_faces, run_processors
from .safety.gate import SafetyGate
from .safety.policy import SafetyPolicy
from .sources import load_identity, parse_face_map
from .timing import Stopwatch
from .types import NO_SOURCE, Alpha, Embedding, Face, FrameBGR, Identity

PathLike = str | os.PathLike[str]


@dataclass
class FrameResult:
    frame: FrameBGR
    faces: list[Face]
    assignments: list[Assignment]
    declined: list[tuple[Face, str]]
    """Selected faces the face swapper left as they are, and why."""
    swapper_ran: bool
    alpha: Alpha | None = None
    """The transparency a processor made (a background remover); None: the picture's own is kept."""

    @property
    def faces_swappable(self) -> int:
        """Selected faces the face swapper worked on (0 when it does not run)."""
        return len(self.assignments) - len(self.declined) if self.swapper_ran else 0


class Studio:
    """Owns the embedded engine's models; reuse one for many images. Not thread-safe."""

    def __init__(self, options: Options | None = None, stopwatch: Stopwatch | None = None,
                 analyser: FaceAnalyser | None = None, safety: SafetyPolicy | None = None,
                 pool: SessionPool | None = None) -> None:
        """``analyser``: models to borrow (their owner closes them), e.g. from a long-running app.
        ``safety``: the operator's policy (protected people are refused with RefusedError).
        ``pool``: model sessions to share with other studios of the same execution settings."""
        self.options = options or Options()
        self.safety = safety or SafetyPolicy()
        # Asking for a GPU that this installation cannot use is an error up front, even when no neural
        # model ends up running: a user who asked for CUDA must not get a CPU run without being told.
        settings = execution_settings(self.options)
        provider_list(settings)
        self.stopwatch = stopwatch
        self.stop: threading.Event | None = None
        """The current run's stop flag (set by start_run): processors see it in each frame's context."""
        if pool is not None and pool.settings != settings:
            raise ValueError("a shared session pool must have the options' execution settings")
        self.pool = pool if pool is not None else SessionPool(settings)
        """Model sessions shared by the analysis and every processor of this studio."""
        self._owns_analyser = analyser is None
        self.analyser = analyser or analyser_for(self.options, stopwatch, self.pool)
        self.processors = create_processors(self.options, self.pool)
        self._matching = False
        """Whether the plan compares identities (then the recogniser is part of what ran)."""
        self.gate = SafetyGate(self.safety, self.options, self.analyser)

    def start_run(self, stop: threading.Event | None = None) -> None:
        """A studio begins a job (a kept one, another job): ``stop`` is the run's stop flag."""
        self.gate.start_run()
        self.stop = stop

    @property
    def frame_scale(self) -> int:
        """How many times larger than the input the processed frames are (frame enhancers upscale)."""
        scale = 1
        for processor in self.processors:
            scale *= processor.scale
        return scale

    def swappable(self, assignments: list[Assignment]) -> int:
        """How many of these faces the face swapper changes (0 when no face swapper runs)."""
        if not any(processor.name == "face_swapper" for processor in self.processors):
            return 0
        return len(assignments) - len(declined_faces(self.processors, assignments))

    @property
    def works_without_mesh(self) -> bool:
        """Faces without a mesh are worth following: a neural detector found them and no processor
        here needs the mesh (the classical swapper does)."""
        return bool(self.analyser.detector_choice.files) and not any(
            processor.needs_mesh for processor in self.processors)

    @property
    def digital_source_type(self) -> str | None:
        """How the output was made, in IPTC's vocabulary (written into its metadata): the strongest of
        what the processors do; None when they only draw annotations."""
        kinds = {processor.source_type for processor in self.processors}
        for kind in ("compositeWithTrainedAlgorithmicMedia", "composite", "algorithmicallyEnhanced"):
            if kind in kinds:
                return kind
        return None

    @property
    def setup_warnings(self) -> list[str]:
        """What did not run as asked: options the chosen engine ignores, models that asked for a GPU and
        run on the CPU, fp16 files replaced by full-precision ones (said in every result, not only the log)."""
        pools = [self.pool] + ([self.analyser.pool] if self.analyser.pool is not self.pool else [])
        notes = [message for processor in self.processors for message in processor.warnings]
        return notes + [message for pool in pools for message in pool.warnings]

    @property
    def engine(self) -> str:
        """Which engine and models run, and why (from the processors that use models)."""
        engines = [processor.engine for processor in self.processors if processor.engine is not None]
        recogniser = [self.analyser.recogniser_choice.description] if self._matching or self.gate.compared else []
        return "; ".join([*engines, self.analyser.detector_choice.description, *recogniser])

    def close(self) -> None:
        if self._owns_analyser:
            self.analyser.close()

    def __enter__(self) -> Studio:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def load_identity(self, sources: list[str], embed: bool = True) -> Identity:
        """One person from ``sources``; refused when one of the photos shows a protected person."""
        identity = load_identity([str(path) for path in sources], self.analyser, embed or self.gate.checks_protected)
        self.gate.refuse_protected_faces([(f"the source photo {Path(source.path).name}", source.face, source.image)
                                     for source in identity.faces])
        return identity

    def plan(self, sources: list[str], reference_frame: FrameBGR, face_map: list[str] | None = None,
             reference_path: str | None = None) -> SwapPlan:
        """Load the sources and the reference face once for a run. ``reference_path``: the file
        ``reference_frame`` was read from, when the user gave one (it must show a face)."""
        entries = parse_face_map(face_map or [])
        # Identity descriptors are only needed to match faces; computing them loads the recogniser.
        matching = self.options.face_selector_mode == "reference" or any(entry.reference_path for entry in entries)
        self._matching = matching
        default_identity = self.load_identity(sources, embed=matching) if sources else None
        if default_identity is None and not entries:
            if any(processor.needs_source for processor in self.processors):
                raise InvalidInputError(f"{MISSING_SOURCE} (-s, or --face-map)")
            default_identity = NO_SOURCE  # enhancers alone: the selector still picks the faces
        by_position: dict[int, Identity] = {}
        by_reference = []
        for entry in entries:
            identity = self.load_identity(list(entry.sources), embed=False)
            if entry.position is not None:
                by_position[entry.position] = identity
            else:
                person = self.load_identity([entry.reference_path or ""])
                if person.embedding is not None:
                    by_reference.append((person.embedding, identity))
        reference_embedding: Embedding | None = None
        if default_identity is not None and self.options.face_selector_mode == "reference":
            faces = self.analyser.analyse(reference_frame)
            reference = pick_reference(faces, self.options.reference_face_position, self.options.face_selector_order)
            if reference_path and not faces:
                raise InvalidInputError(f"no face in reference image {reference_path}; give a photo in which the "
                                        "reference person's face is visible")
            if faces and reference is None:
                raise InvalidInputError(
                    f"--reference-face-position {self.options.reference_face_position}: the reference image has "
                    f"only {len(faces)} face(s); positions start at 0")
            if reference is not None:
                reference_embedding = self.analyser.embed(reference_frame, reference).embedding
        return SwapPlan(default_identity=default_identity, by_position=by_position,
                        by_reference=tuple(by_reference), reference_embedding=reference_embedding)

    def process_frame(self, frame: FrameBGR, plan: SwapPlan) -> FrameResult:
        """Analyse one frame, choose its faces and run every processor on a copy of it."""
        faces = self.analyser.analyse(frame)
        ordered, assignments = assign_faces(frame, faces, plan, self.options, self.analyser)
        context = FrameContext(faces=ordered, assignments=assignments, stopwatch=self.stopwatch, stop=self.stop)
        drawn = run_processors(self.processors, frame, context)
        return FrameResult(frame=drawn.frame, alpha=drawn.alpha, faces=ordered, assignments=assignments,
                           declined=declined_faces(self.processors, assignments),
                           swapper_ran=any(processor.name == "face_swapper" for processor in self.processors))

    def swap_image(self, sources: list[PathLike], target: PathLike, output: PathLike | None = None,
                   face_map: list[str] | None = None, reference_face_path: PathLike | None = None) -> ImageResult:
        """Swap ``sources`` onto the picture ``target``; write it to ``output`` when given (see image_job)."""
        return swap_image_file(self, [str(path) for path in sources], str(target),
                               None if output is None else str(output), face_map or [],
                               None if reference_face_path is None else str(reference_face_path))

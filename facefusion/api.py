"""The public Python API.

``swap_image`` is the one-call form. A :class:`Studio` keeps its models loaded between calls, for
scripts that process many images.
"""
from __future__ import annotations

import threading

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .assign import Assignment, SwapPlan, assign_faces
from .errors import InvalidInputError
from .analysis.analyse import FaceAnalyser, analyser_for
from .analysis.select import pick_reference
from .inference.runtime import SessionPool, execution_settings, provider_list
from .media.image import check_output_path, is_image_path, read_image, write_image
from .safety.label import label_painter
from .safety.moderation import ContentCheck, content_checks, run_checks
from .safety.policy import SafetyPolicy
from .safety.protected import ProtectedPerson, load_protected, refuse_protected
from .safety.watermark import SMALLEST_SIDE, Watermarker, format_id, new_output_id
from .options import Options, make_options
from .processors import FrameContext, create_processors, run_processors
from .sources import face_map_files, load_identity, parse_face_map
from .timing import Stopwatch
from .types import NO_SOURCE, Face, FrameBGR, Identity

logger = logging.getLogger("facefusion")

PathLike = str | os.PathLike[str]


@dataclass
class FrameResult:
    frame: FrameBGR
    faces: list[Face]
    assignments: list[Assignment]
    faces_swappable: int
    """Selected faces the face swapper can work on (0 when it does not run)."""


@dataclass
class ImageResult:
    """What ``swap_image`` did: the picture (BGR) and an honest account of it."""

    frame: FrameBGR
    alpha: np.ndarray | None
    faces_found: int
    faces_selected: int
    faces_swapped: int
    output_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    watermark_id: str | None = None
    """The output id the picture's invisible watermark carries (None with --no-output-watermark)."""


def unfitted_note(count: int, where: str = "") -> str:
    """The report's line for faces that were found but could not be swapped, and why."""
    return (f"{count} face(s) found{where} could not be swapped and were left as they are: their landmarks could "
            "not be fitted (a profile, a face mostly covered or blurred, or not a face at all); a neural swapper "
            "(--face-swapper-model) needs only five points and swaps such faces")


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
        self._watermarker: Watermarker | None = None
        self._protected: list[ProtectedPerson] | None = None
        self._content_checks: list[ContentCheck] | None = None

    def start_run(self, stop: threading.Event | None = None) -> None:
        """A studio begins a job (a kept one, another job): the protected people are read again (the operator
        may have changed the folder; unchanged photos come from the descriptor cache); ``stop`` is the run's
        stop flag."""
        self._protected = None
        self.stop = stop

    @property
    def watermarker(self) -> Watermarker:
        """The invisible watermark's networks, loaded on first use."""
        if self._watermarker is None:
            self._watermarker = Watermarker()
        return self._watermarker

    @property
    def checks_protected(self) -> bool:
        """Whether faces must be compared with the protected people: only a swap can misuse them."""
        return self.safety.protected_faces is not None and "face_swapper" in self.options.processors

    def refuse_protected_faces(self, faces: list[tuple[str, Face, FrameBGR]]) -> None:
        """Raise RefusedError when one of ``faces`` ((what it is, face, its frame)) shows a protected person."""
        if not self.checks_protected or not faces:
            return
        if self._protected is None:
            self._protected = load_protected(str(self.safety.protected_faces), self.analyser)
        self._matching = True  # the recogniser is part of what ran
        checked = [(what, self.analyser.embed(frame, face).embedding) for what, face, frame in faces]
        refuse_protected(self._protected, checked, self.options.reference_face_distance)

    def refuse_protected_targets(self, frame: FrameBGR, assignments: list[Assignment], where: str) -> None:
        """Refuse when a face chosen for the swap in ``frame`` is a protected person's."""
        self.refuse_protected_faces([(f"a selected face of {where}", assignment.face, frame)
                                     for assignment in assignments])

    @property
    def checks_content(self) -> bool:
        return bool(self.safety.content_checks)

    def refuse_content(self, frame: FrameBGR, what: str, stage: str) -> None:
        """Raise RefusedError when one of the operator's content checks rejects ``frame`` (target or output)."""
        if not self.checks_content:
            return
        if self._content_checks is None:
            self._content_checks = content_checks(self.safety.content_checks)
        run_checks(self._content_checks, frame, what, stage)

    @property
    def frame_scale(self) -> int:
        """How many times larger than the input the processed frames are (frame enhancers upscale)."""
        scale = 1
        for processor in self.processors:
            scale *= getattr(processor, "scale", 1)
        return scale

    def swappable(self, assignments: list[Assignment]) -> int:
        """How many of these faces the face swapper changes: the classical engine needs the 468-point
        mesh, the neural one only five points (0 when no face swapper runs)."""
        swapper = next((processor for processor in self.processors if processor.name == "face_swapper"), None)
        if swapper is None:
            return 0
        return sum(1 for assignment in assignments if assignment.face.mesh is not None or not swapper.needs_mesh)

    @property
    def works_without_mesh(self) -> bool:
        """Faces without a mesh are worth following: a neural detector found them and no processor
        here needs the mesh (the classical swapper does)."""
        return bool(self.analyser.detector_choice.files) and not any(
            getattr(processor, "needs_mesh", False) for processor in self.processors)

    @property
    def digital_source_type(self) -> str | None:
        """How the output was made, in IPTC's vocabulary (written into its metadata): the strongest of
        what the processors do; None when they only draw annotations."""
        kinds = {getattr(processor, "source_type", None) for processor in self.processors}
        for kind in ("compositeWithTrainedAlgorithmicMedia", "composite", "algorithmicallyEnhanced"):
            if kind in kinds:
                return kind
        return None

    @property
    def setup_warnings(self) -> list[str]:
        """What did not run as asked: options the chosen engine ignores, models that asked for a GPU and
        run on the CPU, fp16 files replaced by full-precision ones (said in every result, not only the log)."""
        pools = [self.pool] + ([self.analyser.pool] if self.analyser.pool is not self.pool else [])
        notes = [message for processor in self.processors for message in getattr(processor, "warnings", [])]
        return notes + [message for pool in pools for message in pool.warnings]

    @property
    def engine(self) -> str:
        """Which engine and models run, and why (from the processors that use models)."""
        engines = [processor.engine for processor in self.processors if hasattr(processor, "engine")]
        recogniser = [self.analyser.recogniser_choice.description] if self._matching else []
        return "; ".join([*engines, self.analyser.detector_choice.description, *recogniser])

    def close(self) -> None:
        if self._owns_analyser:
            self.analyser.close()

    def __enter__(self) -> "Studio":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def load_identity(self, sources: list[str], embed: bool = True) -> Identity:
        """One person from ``sources``; refused when one of the photos shows a protected person."""
        identity = load_identity([str(path) for path in sources], self.analyser, embed or self.checks_protected)
        self.refuse_protected_faces([(f"the source photo {Path(source.path).name}", source.face, source.image)
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
            if "face_swapper" in self.options.processors:
                raise InvalidInputError("give a source image (-s) or a face map (--face-map)")
            default_identity = NO_SOURCE  # enhancers alone: the selector still picks the faces
        by_position: dict[int, Identity] = {}
        by_reference = []
        for entry in entries:
            identity = self.load_identity(list(entry.sources), embed=False)
            if entry.position is not None:
                by_position[entry.position] = identity
            else:
                reference = self.load_identity([entry.reference_path or ""])
                if reference.embedding is not None:
                    by_reference.append((reference.embedding, identity))
        reference_embedding = None
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
        result = run_processors(self.processors, frame, context)
        return FrameResult(frame=result, faces=ordered, assignments=assignments,
                           faces_swappable=self.swappable(assignments))

    def swap_image(self, sources: list[PathLike], target: PathLike, output: PathLike | None = None,
                   face_map: list[str] | None = None, reference_face_path: PathLike | None = None) -> ImageResult:
        target_path = str(target)
        if not is_image_path(target_path):
            raise InvalidInputError(f"unsupported target type '{Path(target_path).suffix}': {target_path}; "
                                    "give an image (jpg, png, webp, bmp, tiff)")
        output_path = None
        if output is not None:
            inputs = [str(path) for path in sources] + [target_path] + face_map_files(face_map or [])
            output_path = check_output_path(output, inputs)
        loaded = read_image(target_path)
        self.refuse_content(loaded.frame, f"the target {Path(target_path).name}", "target")
        reference_frame = read_image(str(reference_face_path)).frame if reference_face_path else loaded.frame
        plan = self.plan([str(path) for path in sources], reference_frame, face_map,
                         str(reference_face_path) if reference_face_path else None)
        frame_result = self.process_frame(loaded.frame, plan)
        self.refuse_protected_targets(loaded.frame, frame_result.assignments, f"the target {Path(target_path).name}")
        warnings = []
        # A frame enhancer alone needs no face; beside face processors it still changes the whole picture.
        face_work = any(name != "frame_enhancer" for name in self.options.processors)
        unchanged = ("only the frame enhancer changed it" if "frame_enhancer" in self.options.processors
                     else "the output is the target unchanged")
        if face_work and not frame_result.faces:
            warnings.append(f"no face found in target image {target_path}; {unchanged}")
        elif face_work and not frame_result.assignments:
            warnings.append(f"no target face matched the selection; {unchanged} "
                            "(try --face-selector-mode many or a larger --reference-face-distance)")
        unmatched = sorted(position for position in plan.by_position if position >= len(frame_result.faces))
        if unmatched:
            warnings.append(f"--face-map position(s) {', '.join(map(str, unmatched))} match no face: the target has "
                            f"{len(frame_result.faces)} face(s), counted from 0 in --face-selector-order "
                            f"{self.options.face_selector_order}")
        unswappable = len(frame_result.assignments) - frame_result.faces_swappable
        if unswappable and "face_swapper" in self.options.processors:
            warnings.append(unfitted_note(unswappable))
        warnings.extend(self.setup_warnings)
        for message in warnings:
            logger.warning(message)
        swapped = frame_result.faces_swappable
        picture, mark = frame_result.frame, None
        # Every file written is marked (a picture handed back in memory is the caller's to mark or not); a
        # picture the processors left as it was is not: the mark says this product made it.
        changed = output_path is not None and not np.array_equal(picture, loaded.frame)
        if changed:
            self.refuse_content(picture, f"the output for {Path(target_path).name}", "output")
        painter = label_painter(self.options)
        if changed and painter is not None:
            picture = painter.draw(picture)
        if changed and self.options.output_watermark:
            output_id = new_output_id()
            unmarked = picture
            picture, mark = self.watermarker.mark(picture, output_id), format_id(output_id)
            if picture is unmarked:
                mark = None
                warnings.append(f"the picture is too small to carry the invisible watermark (under {SMALLEST_SIDE} px)")
        if output_path is not None:
            write_image(output_path, picture, loaded.alpha, self.options.output_image_quality,
                        description=self.engine if mark is None else f"{self.engine}; watermark id {mark}",
                        source_type=self.digital_source_type)
        return ImageResult(frame=picture, alpha=loaded.alpha, faces_found=len(frame_result.faces),
                           faces_selected=len(frame_result.assignments), faces_swapped=swapped,
                           output_path=output_path, warnings=warnings, watermark_id=mark)


def swap_image(sources: PathLike | list[PathLike], target: PathLike, output: PathLike | None = None, *,
               face_map: list[str] | None = None, reference_face_path: PathLike | None = None,
               options: Options | None = None, **option_values: Any) -> FrameBGR:
    """Swap the face(s) of ``sources`` onto ``target``; return the result as a BGR array and write it
    to ``output`` when given. Option names are those of :class:`facefusion.Options`, e.g.
    ``face_selector_mode="many"``. Raises :class:`facefusion.errors.StudioError` subclasses on bad input."""
    source_list = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if options is None:
        options = make_options(**option_values)
    elif option_values:
        options = options.replace(**option_values)
    with Studio(options) as studio:
        return studio.swap_image(source_list, target, output, face_map, reference_face_path).frame

"""A picture job on an engine: check the files, read the target, plan, draw, refuse or mark, write, report.

Written against the engine's members only (``Studio`` is named for the type checker), so the engine can
offer it as its ``swap_image`` method without the two modules importing each other.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import InvalidInputError
from .media.files import is_image_path, unsupported_target
from .media.image import carries_alpha, check_output_path, read_image, write_image
from .options import Options
from .processors import FRAME_LEVEL, works_on_faces
from .processors.base import alpha_sized
from .processors.face_swapper import UNFITTED
from .safety.gate import TOO_SMALL_TO_MARK
from .sources import face_map_files
from .types import Alpha, FrameBGR

if TYPE_CHECKING:
    from .assign import SwapPlan
    from .engine import FrameResult, Studio

logger = logging.getLogger("facefusion")


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


def swap_image_file(studio: Studio, sources: list[str], target: str, output: str | None, face_map: list[str],
                    reference_face_path: str | None) -> ImageResult:
    """Swap ``sources`` onto the picture ``target`` with ``studio``; written to ``output`` when given."""
    if not is_image_path(target):
        raise InvalidInputError(unsupported_target(target, video=False))
    output_path = None
    if output is not None:
        output_path = check_output_path(output, [*sources, target, *face_map_files(face_map)])
    loaded = read_image(target)
    studio.gate.refuse_content(loaded.frame, f"the target {Path(target).name}", "target")
    reference_frame = read_image(reference_face_path).frame if reference_face_path else loaded.frame
    plan = studio.plan(sources, reference_frame, face_map, reference_face_path)
    frame_result = studio.process_frame(loaded.frame, plan)
    studio.gate.refuse_protected_targets(loaded.frame, frame_result.assignments, f"the target {Path(target).name}")
    warnings = image_warnings(studio.options, target, plan, frame_result) + studio.setup_warnings
    if frame_result.alpha is not None and output_path is not None and not carries_alpha(output_path):
        warnings.append(f"{Path(output_path).suffix} cannot carry transparency: the removed background is written "
                        "in its fill colour (--background-remover-fill-color; unchanged when that is transparent); "
                        "write .png or .webp for a transparent background")
    for message in warnings:
        logger.warning(message)
    picture, mark = frame_result.frame, None
    alpha = combined_alpha(loaded.alpha, frame_result.alpha, picture.shape)
    # Every file written is marked (a picture handed back in memory is the caller's to mark or not); a
    # picture the processors left as it was is not: the mark says this product made it.
    changed = not np.array_equal(picture, loaded.frame) or frame_result.alpha is not None
    if output_path is not None and changed:
        studio.gate.refuse_content(picture, f"the output for {Path(target).name}", "output")
        picture, mark = studio.gate.mark_picture(picture)
        if mark is None and studio.options.output_watermark:
            warnings.append(TOO_SMALL_TO_MARK)
    if output_path is not None:
        write_image(output_path, picture, alpha, studio.options.output_image_quality,
                    description=studio.engine if mark is None else f"{studio.engine}; watermark id {mark}",
                    source_type=studio.digital_source_type)
    return ImageResult(frame=picture, alpha=alpha, faces_found=len(frame_result.faces),
                       faces_selected=len(frame_result.assignments), faces_swapped=frame_result.faces_swappable,
                       output_path=output_path, warnings=warnings, watermark_id=mark)


def combined_alpha(own: Alpha | None, made: Alpha | None, shape: tuple[int, ...]) -> Alpha | None:
    """The output's transparency, at the size of a picture of ``shape`` (a frame enhancer enlarges it): the
    target's own and what a processor made (the least opaque of the two)."""
    if own is None or made is None:
        kept = made if own is None else own
        return None if kept is None else alpha_sized(kept, shape)
    return np.minimum(alpha_sized(own, shape), alpha_sized(made, shape))


def image_warnings(options: Options, target: str, plan: SwapPlan, result: FrameResult) -> list[str]:
    """What the report says about a picture's faces: none found, none chosen, the ones the selector left out,
    face-map positions past the faces there are, faces the swapper could not fit or turned too far."""
    warnings = []
    # Frame-level processors alone need no face; beside face processors they still change the whole picture.
    face_work = works_on_faces(options.processors)
    frame_level = [name.replace("_", " ") for name in options.processors if name in FRAME_LEVEL]
    unchanged = (f"only the {' and the '.join(frame_level)} changed it" if frame_level
                 else "the output is the target unchanged")
    if face_work and not result.faces:
        warnings.append(f"no face found in target image {target}; {unchanged}")
    elif face_work and not result.assignments:
        warnings.append(f"no target face matched the selection; {unchanged} "
                        "(try --face-selector-mode many or a larger --reference-face-distance)")
    unmatched = sorted(position for position in plan.by_position if position >= len(result.faces))
    if unmatched:
        warnings.append(f"--face-map position(s) {', '.join(map(str, unmatched))} match no face: the target has "
                        f"{len(result.faces)} face(s), counted from 0 in --face-selector-order "
                        f"{options.face_selector_order}")
    chosen = [assignment.face.bbox for assignment in result.assignments]
    others = [face for face in result.faces if not any(np.allclose(face.bbox, box) for box in chosen)]
    if face_work and result.assignments and others:
        places = ", ".join(f"({face.centre[0]:.0f}, {face.centre[1]:.0f})" for face in others)
        if plan.default_identity is None:
            # Only --face-map sources: the faces it does not name are left by the map, not by the selector.
            why, how = "named in --face-map", "name their positions in --face-map, or give --source-paths too"
        else:
            mode = options.face_selector_mode
            why = f"chosen by --face-selector-mode {mode}"
            how = ("--reference-face-distance widens the match; " if mode == "reference" else "") + \
                "--face-selector-mode many swaps every face"
        warnings.append(f"{len(others)} other face(s) found, at {places}, were not {why}: left as they are ({how})")
    unfitted = [face for face, reason in result.declined if reason == UNFITTED]
    if unfitted:
        warnings.append(unfitted_note(len(unfitted)))
    for face, reason in result.declined:
        if reason != UNFITTED:
            warnings.append(f"the face at ({face.centre[0]:.0f}, {face.centre[1]:.0f}) is {reason}: left as it is "
                            "(a neural swapper, --face-swapper-model, swaps such faces)")
    return warnings

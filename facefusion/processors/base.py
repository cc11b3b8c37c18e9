"""The contract every processor follows: frame in, frame out, no files, no front end."""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from ..assign import Assignment
from ..timing import Stopwatch
from ..types import Alpha, Face, FrameBGR


def scale_face(face: Face, factor: float) -> Face:
    """The same face in a frame ``factor`` times larger (box, points and mesh; identity is unchanged)."""
    mesh = None if face.mesh is None else (face.mesh * factor).astype(face.mesh.dtype)
    return dataclasses.replace(face, bbox=(face.bbox * factor).astype(face.bbox.dtype),
                               landmarks_5=(face.landmarks_5 * factor).astype(face.landmarks_5.dtype), mesh=mesh)


@dataclass(frozen=True)
class FrameContext:
    """What the analysis of one frame found: every face, and which of them get which source.

    Face coordinates are those of the frame a processor receives: after a frame enhancer has enlarged
    the frame, the processors that follow get the faces scaled to it (see ``fitted_to``)."""

    faces: list[Face]
    assignments: list[Assignment]
    stopwatch: Stopwatch | None = None
    detected: FrameBGR | None = None
    """The frame as it was analysed, before any processor changed it (what the target face looked like)."""
    scale: float = 1.0
    """How many times larger the frame these faces are placed in is than ``detected``."""
    stop: threading.Event | None = None
    """The run's stop flag: long per-frame work (tiles) looks at it between its steps."""

    def fitted_to(self, frame: FrameBGR) -> FrameContext:
        """This context with its faces placed in ``frame`` (scaled when ``frame`` is larger or smaller
        than the analysed frame)."""
        if self.detected is None:
            return self
        factor = frame.shape[1] / self.detected.shape[1]
        if abs(factor - self.scale) < 1e-9:
            return self
        change = factor / self.scale
        scaled = {id(face): scale_face(face, change) for face in self.faces}
        for assignment in self.assignments:
            scaled.setdefault(id(assignment.face), scale_face(assignment.face, change))
        return dataclasses.replace(
            self, faces=[scaled[id(face)] for face in self.faces], scale=factor,
            assignments=[Assignment(face=scaled[id(item.face)], identity=item.identity) for item in self.assignments])

    def as_detected(self, face: Face) -> Face:
        """One of this context's faces in the coordinates of ``detected``."""
        return face if self.scale == 1.0 else scale_face(face, 1.0 / self.scale)


class Processor(Protocol):
    """Everything the engine asks of a processor. Adding one is a class with these members and a line in
    ``PROCESSORS``; the type checker holds each class to this list."""

    name: str

    @property
    def engine(self) -> str | None:
        """The model line the report and the output's metadata name (None: draws without a model)."""
        ...

    @property
    def source_type(self) -> str | None:
        """What it makes, in IPTC's digital source type words (None: only annotations)."""
        ...

    @property
    def scale(self) -> int:
        """How many times larger its frames come out than they go in."""
        ...

    @property
    def needs_mesh(self) -> bool:
        """Whether it can only work on faces with the 468-point mesh."""
        ...

    @property
    def needs_source(self) -> bool:
        """Whether it puts a source identity somewhere (then a run without a source is refused)."""
        ...

    @property
    def warnings(self) -> Sequence[str]:
        """What it will not do as asked (said in every result)."""
        ...

    def declines(self, face: Face) -> str | None:
        """Why it leaves this selected face as it is (said in the report); None when it works on it."""
        ...

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        """Return the processed frame; may change ``frame`` in place (the caller owns a copy)."""
        ...


@dataclass(frozen=True)
class Drawn:
    """A frame after every processor: the picture, and its transparency when a processor made one (a
    background remover), at the picture's size (0 transparent .. 255 opaque)."""

    frame: FrameBGR
    alpha: Alpha | None = None


def run_processors(processors: Sequence[Processor], frame: FrameBGR, context: FrameContext) -> Drawn:
    """Every processor in turn on a copy of ``frame``; each gets the faces placed in the frame it receives.

    A processor that makes the picture transparent returns it with a fourth (alpha) channel; the processors
    after it get the picture alone, and the transparencies of several are combined (the least opaque wins)."""
    context = dataclasses.replace(context, detected=frame, scale=1.0)
    result = frame.copy()
    alpha: Alpha | None = None
    for processor in processors:
        result = processor.process(result, context.fitted_to(result))
        if result.ndim == 3 and result.shape[2] == 4:
            made = result[:, :, 3]
            result = np.ascontiguousarray(result[:, :, :3])
            alpha = made if alpha is None else np.minimum(alpha_sized(alpha, made.shape), made)
    return Drawn(result, None if alpha is None else alpha_sized(alpha, result.shape))


def alpha_sized(alpha: Alpha, shape: tuple[int, ...]) -> Alpha:
    """``alpha`` at the size of a picture of ``shape`` (a frame enhancer after the remover enlarged it)."""
    if alpha.shape[:2] == shape[:2]:
        return alpha
    return cv2.resize(alpha, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def declined_faces(processors: Sequence[Processor], assignments: Sequence[Assignment]) -> list[tuple[Face, str]]:
    """The selected faces the face swapper leaves as they are, each with its reason (none when no swapper runs)."""
    swapper = next((processor for processor in processors if processor.name == "face_swapper"), None)
    if swapper is None:
        return []
    reasons = ((assignment.face, swapper.declines(assignment.face)) for assignment in assignments)
    return [(face, reason) for face, reason in reasons if reason is not None]

"""One frame path for every video run: follow the faces, assign identities, process, resize, check, mark.

A :class:`FrameDrawer` turns the target frames of one stretch of video (a segment, a live stream) into
output frames, in order. The threaded local run, the segments rendered on Ray's actors and the coming live
loop all draw with it, so that they give the same frames. Its steps are apart because the local run spreads
them: ``analyse`` (sequential: each frame's tracking starts from the last), ``render`` (the processors, on
worker threads), ``finish`` (size and the content check, in output order) and ``marks`` (label and
watermark, on the encoder's thread).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analysis.pose import head_angles
from .analysis.track import FaceTracker
from .assign import Assignment, SwapPlan, assign_faces
from .engine import Studio
from .errors import RefusedError, StoppedError
from .media.image import resized
from .options import Options
from .processors import FrameContext, declined_faces, run_processors
from .processors.base import alpha_sized
from .processors.face_swapper import UNFITTED
from .safety.gate import FrameMarks
from .types import Alpha, Face, FrameBGR, Identity

logger = logging.getLogger("facefusion")


@dataclass(frozen=True)
class Rendered:
    """A frame after the processors: the picture (input size times the processors' scale), the faces
    swapped in it and the error that left it unprocessed (None when it went well)."""

    image: FrameBGR
    swaps: int
    error: Exception | None
    alpha: Alpha | None = None
    """The transparency a processor made (a background remover), at the picture's size."""


@dataclass(frozen=True)
class TurnedAway:
    """Frames in which the face swapper left a selected face alone for its turn: how many, the first and the
    last (input frame numbers), and the largest turn seen (degrees)."""

    frames: int = 0
    first: int = -1
    last: int = -1
    most: float = 0.0

    def seen(self, index: int, yaw: float) -> TurnedAway:
        return TurnedAway(self.frames + 1, index if self.first < 0 else min(self.first, index),
                          max(self.last, index), max(self.most, abs(yaw)))

    def joined(self, other: TurnedAway) -> TurnedAway:
        if not other.frames:
            return self
        if not self.frames:
            return other
        return TurnedAway(self.frames + other.frames, min(self.first, other.first), max(self.last, other.last),
                          max(self.most, other.most))

    def note(self) -> str | None:
        """The report's line (None when no face was left for its turn)."""
        if not self.frames:
            return None
        return (f"in {self.frames} frame(s) (frames {self.first}-{self.last}) a face was turned past the embedded "
                f"engine's limit (up to {self.most:.0f}°) and was left as it is, faded out and back in around it; "
                "a neural swapper (--face-swapper-model) swaps such faces")


@dataclass(frozen=True)
class Analysed:
    """A target frame with what the tracker found in it (None and the error when that failed)."""

    image: FrameBGR
    context: FrameContext | None
    error: Exception | None


class FrameDrawer:
    """Draws the output frames of one stretch of a video run with a studio and the run's plan."""

    def __init__(self, studio: Studio, plan: SwapPlan, options: Options, target: str, rate: float,
                 marks: FrameMarks, checked: set[int] | frozenset[int] = frozenset()) -> None:
        """``rate``: output frames per second (the tracker's filters); ``checked``: output positions the
        operator's content checks look at."""
        self.studio = studio
        self.options = options
        self.target = Path(target).name
        self.marks = marks
        self.checked = checked
        self.most_faces = 0
        """The most faces seen in one frame (for the report on face-map positions)."""
        self.turned = TurnedAway()
        self.tracker = FaceTracker(studio.analyser, rate=rate, decide=self._decider(plan),
                                   meshless_tracks=studio.works_without_mesh)

    def _decider(self, plan: SwapPlan):  # noqa: ANN202 - the tracker's callback type
        studio, options = self.studio, self.options

        def decide(frame: FrameBGR, new_faces: list[Face]) -> list[Identity | None]:
            ordered, assignments = assign_faces(frame, new_faces, plan, options, studio.analyser)
            # Each face is checked once, when it is first seen: what a run swaps is what it decided here.
            studio.gate.refuse_protected_targets(frame, assignments, f"the target {self.target}")
            by_face = {id(assignment.face): assignment.identity for assignment in assignments}
            # assign_faces may return embedded copies in its own order: match them back by position.
            return [by_face.get(id(face)) for face in _align(new_faces, ordered)]
        return decide

    def analyse(self, image: FrameBGR, index: int) -> Analysed:
        """Follow the faces into input frame ``index``. A failure is returned, not raised: one bad frame must
        not end a long run (the frame is then written unprocessed and reported)."""
        try:
            tracks = self.tracker.update(image)
        except (StoppedError, MemoryError, RefusedError):
            raise
        except Exception as error:  # noqa: BLE001 - see docstring
            log_failure(index, error)
            self.tracker.reset()
            return Analysed(image, None, error)
        self.most_faces = max(self.most_faces, len(tracks))
        assignments = [Assignment(face=track.face, identity=track.identity) for track in tracks
                       if track.identity is not None]
        turned = [face for face, reason in declined_faces(self.studio.processors, assignments) if reason != UNFITTED]
        if turned:
            self.turned = self.turned.seen(index, max(abs(head_angles(face.mesh).yaw) for face in turned
                                                      if face.mesh is not None))
        context = FrameContext(faces=[track.face for track in tracks], assignments=assignments,
                               stopwatch=self.studio.stopwatch, stop=self.studio.stop)
        return Analysed(image, context, None)

    def render(self, analysed: Analysed) -> Rendered:
        """Run the processors on a copy of the frame (safe on several threads at once)."""
        if analysed.context is None:
            return Rendered(analysed.image, 0, analysed.error)
        try:
            drawn = run_processors(self.studio.processors, analysed.image, analysed.context)
        except (StoppedError, MemoryError):
            raise
        except Exception as failure:  # noqa: BLE001 - one bad frame must not end a long run
            log_failure(-1, failure)
            return Rendered(analysed.image, 0, failure)
        return Rendered(drawn.frame, self.studio.swappable(analysed.context.assignments), None, drawn.alpha)

    def finish(self, rendered: Rendered, position: int, keep_alpha: bool = False) -> FrameBGR:
        """Output frame ``position`` before its marks: at the output's size, and checked when it is one of the
        content checks' samples. ``keep_alpha``: a transparency made by a processor comes along as a fourth
        channel (a webm that keeps it); otherwise the picture shows its fill colour."""
        frame = resized(rendered.image, self.options.output_video_scale)
        if position in self.checked:
            self.studio.gate.refuse_content(frame, f"frame {position} of the output for {self.target}", "output")
        if keep_alpha and rendered.alpha is not None:
            return np.dstack([frame, alpha_sized(rendered.alpha, frame.shape)])
        return frame

    def reset(self) -> None:
        """Start following anew (a segment starts here: segments made apart must give the same frames)."""
        self.tracker.reset()

    @property
    def unfitted(self) -> int:
        return self.tracker.unfitted

    def close(self) -> None:
        self.tracker.close()


def _align(original: list[Face], ordered: list[Face]) -> list[Face]:
    """``ordered`` holds the same faces (maybe copied with embeddings) in another order: return them
    in the order of ``original``, matched by box."""
    return [min(ordered, key=lambda other: float(np.abs(other.bbox - face.bbox).sum())) for face in original]


def log_failure(index: int, error: Exception) -> None:
    where = f"frame {index}" if index >= 0 else "a frame"
    logger.debug("%s failed", where, exc_info=error)
    logger.warning("%s could not be processed (%s: %s); it is kept unprocessed", where, type(error).__name__, error)

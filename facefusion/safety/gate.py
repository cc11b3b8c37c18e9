"""The safety gate of a studio's runs: what is refused before and after the work, and the marks on what leaves.

Refusals: a protected person's face as a source or as a chosen target (compared by the studio's recogniser),
and the operator's content checks on the target and on the output. Marks: the visible label and the
invisible watermark, drawn in that order on every picture and every video frame a run writes or a page
shows. One object per studio, so the protected people are read once per run and the watermark's networks
load once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..assign import Assignment
from ..options import Options
from ..types import Face, FrameBGR
from .label import LabelPainter, label_painter
from .moderation import ContentCheck, content_checks, run_checks
from .policy import SafetyPolicy
from .protected import ProtectedPerson, load_protected, refuse_protected
from .watermark import SMALLEST_SIDE, VideoMarker, Watermarker, format_id, new_output_id

if TYPE_CHECKING:
    from ..analysis.analyse import FaceAnalyser

TOO_SMALL_TO_MARK = f"the picture is too small to carry the invisible watermark (under {SMALLEST_SIDE} px)"


@dataclass(frozen=True)
class FrameMarks:
    """The label and the video watermark as one step over the frames a run writes."""

    painter: LabelPainter | None
    marker: VideoMarker | None

    def __call__(self, frame: FrameBGR) -> FrameBGR:
        """The frame as it is written: the visible label first, then the invisible watermark over everything. A
        frame with a transparency (a fourth channel) is marked in its colours and keeps its transparency."""
        if frame.ndim == 3 and frame.shape[2] == 4:
            return np.dstack([self(np.ascontiguousarray(frame[:, :, :3])), frame[:, :, 3]])
        frame = self.painter.draw(frame) if self.painter is not None else frame
        return self.marker.mark(frame) if self.marker is not None else frame


def frame_marks(options: Options, watermark_id: int | None) -> FrameMarks:
    """The marks a video's frames carry (no watermark with --no-output-watermark or without an id)."""
    marker = VideoMarker(watermark_id) if options.output_watermark and watermark_id is not None else None
    return FrameMarks(label_painter(options), marker)


class SafetyGate:
    """The operator's refusals and the output's marks for the runs of one studio."""

    def __init__(self, policy: SafetyPolicy, options: Options, analyser: FaceAnalyser) -> None:
        self.policy = policy
        self.options = options
        self.analyser = analyser
        self.compared = False
        """Whether faces were compared with the protected people (the recogniser is then part of what ran)."""
        self._watermarker: Watermarker | None = None
        self._protected: list[ProtectedPerson] | None = None
        self._content_checks: list[ContentCheck] | None = None

    def start_run(self) -> None:
        """A run begins: the protected people are read again (the operator may have changed the folder;
        unchanged photos come from the descriptor cache)."""
        self._protected = None

    @property
    def watermarker(self) -> Watermarker:
        """The invisible watermark's networks, loaded on first use."""
        if self._watermarker is None:
            self._watermarker = Watermarker()
        return self._watermarker

    @property
    def checks_protected(self) -> bool:
        """Whether faces must be compared with the protected people: only a swap can misuse them."""
        return self.policy.protected_faces is not None and "face_swapper" in self.options.processors

    def refuse_protected_faces(self, faces: list[tuple[str, Face, FrameBGR]]) -> None:
        """Raise RefusedError when one of ``faces`` ((what it is, face, its frame)) shows a protected person."""
        if not self.checks_protected or not faces:
            return
        if self._protected is None:
            self._protected = load_protected(str(self.policy.protected_faces), self.analyser)
        self.compared = True
        checked = [(what, self.analyser.embed(frame, face).embedding) for what, face, frame in faces]
        refuse_protected(self._protected, checked, self.options.reference_face_distance)

    def refuse_protected_targets(self, frame: FrameBGR, assignments: list[Assignment], where: str) -> None:
        """Refuse when a face chosen for the swap in ``frame`` is a protected person's."""
        self.refuse_protected_faces([(f"a selected face of {where}", assignment.face, frame)
                                     for assignment in assignments])

    @property
    def checks_content(self) -> bool:
        return bool(self.policy.content_checks)

    def refuse_content(self, frame: FrameBGR, what: str, stage: str) -> None:
        """Raise RefusedError when one of the operator's content checks rejects ``frame`` (target or output)."""
        if not self.checks_content:
            return
        if self._content_checks is None:
            self._content_checks = content_checks(self.policy.content_checks)
        run_checks(self._content_checks, frame, what, stage)

    def mark_picture(self, picture: FrameBGR, output_id: int | None = None) -> tuple[FrameBGR, str | None]:
        """A picture as it leaves: the label, then the watermark (with --output-watermark); returns the picture
        and the watermark's id (None when it carries none: switched off, or the picture is too small)."""
        painter = label_painter(self.options)
        if painter is not None:
            picture = painter.draw(picture)
        if not self.options.output_watermark:
            return picture, None
        output_id = new_output_id() if output_id is None else output_id
        marked = self.watermarker.mark(picture, output_id)
        return marked, None if marked is picture else format_id(output_id)

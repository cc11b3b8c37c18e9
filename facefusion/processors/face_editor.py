"""face_editor: each selected face's expression, gaze and head changed by FaceFusion's face editor sliders.

Two engines: LivePortrait (its six networks in the models folder; every slider) and the embedded editor
(classical/edit.py: no download; every slider but the head's three, which the report then names).
"""
from __future__ import annotations

from typing import ClassVar

from ..classical.edit import EMBEDDED_SLIDERS, edit_face
from ..inference.runtime import SessionPool
from ..neural.live_portrait import EDITOR_PARTS, LivePortrait
from ..neural.portrait_edit import PortraitEditor
from ..options import Options, option_specs
from ..types import Face, FrameBGR
from .base import FrameContext

HEAD_SLIDERS = ("head_pitch", "head_yaw", "head_roll")
NO_MESH = "without the Face Mesh's landmarks (too small or too turned to fit), so it cannot be edited"


def slider_values(options: Options) -> dict[str, float]:
    """Every face editor slider that is set (not 0), by its short name."""
    values = {name: getattr(options, f"face_editor_{name}") for name in (*EMBEDDED_SLIDERS, *HEAD_SLIDERS)}
    return {name: float(value) for name, value in values.items() if value}


def uses_live_portrait(options: Options) -> bool:
    """``auto`` takes LivePortrait when all six of its files are in the models folder."""
    if options.face_editor_model == "auto":
        return not LivePortrait.missing(parts=EDITOR_PARTS)
    return options.face_editor_model == "live_portrait"


class FaceEditor:
    name = "face_editor"
    scale = 1
    needs_mesh = True
    needs_source = False
    live_refusal: ClassVar[str | None] = None

    def __init__(self, options: Options, pool: SessionPool) -> None:
        values = slider_values(options)
        self.portrait: PortraitEditor | None = None
        self.warnings: tuple[str, ...] = ()
        if uses_live_portrait(options):
            self.portrait = PortraitEditor(LivePortrait(pool, parts=EDITOR_PARTS), values, options.face_mask_blur)
            self.engine = "face editor: live_portrait (MIT (KwaiVGI LivePortrait))"
            self.source_type = "compositeWithTrainedAlgorithmicMedia"
            self.sliders = values
            return
        self.engine = "face editor: landmark (embedded Face Mesh warp)"
        self.source_type = "composite"  # the face's own pixels moved: nothing drawn by a trained model
        self.sliders = {name: value for name, value in values.items() if name in EMBEDDED_SLIDERS}
        ignored = [option_specs()[f"face_editor_{name}"].flag for name in values if name in HEAD_SLIDERS]
        if ignored:
            self.warnings = (f"{', '.join(ignored)}: the embedded face editor does not turn heads (a warp of the face "
                             "alone does not look like a turned head; live_portrait does); left as they are",)

    def declines(self, face: Face) -> str | None:
        return NO_MESH if face.mesh is None else None

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        if not self.sliders:
            return frame
        for assignment in context.assignments:
            face = assignment.face
            if face.mesh is None:
                continue
            frame = self.portrait.edit(frame, face) if self.portrait is not None else \
                edit_face(frame, face.mesh, self.sliders)
        return frame

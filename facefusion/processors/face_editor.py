"""face_editor: each selected face's expression and gaze changed by FaceFusion's face editor sliders.

The embedded editor (classical/edit.py) needs no download and draws every slider but the head's three; the
report says when a head slider was set for it.
"""
from __future__ import annotations

from typing import ClassVar

from ..classical.edit import EMBEDDED_SLIDERS, edit_face
from ..options import Options, option_specs
from ..types import Face, FrameBGR
from .base import FrameContext

HEAD_SLIDERS = ("head_pitch", "head_yaw", "head_roll")
NO_MESH = "without the Face Mesh's landmarks (too small or too turned to fit), so it cannot be edited"


def slider_values(options: Options) -> dict[str, float]:
    """Every face editor slider that is set (not 0), by its short name."""
    values = {name: getattr(options, f"face_editor_{name}") for name in (*EMBEDDED_SLIDERS, *HEAD_SLIDERS)}
    return {name: float(value) for name, value in values.items() if value}


class FaceEditor:
    name = "face_editor"
    source_type = "composite"
    """The face's own pixels moved: nothing is drawn by a trained model."""
    engine = "face editor: landmark (embedded Face Mesh warp)"
    scale = 1
    needs_mesh = True
    needs_source = False
    live_refusal: ClassVar[str | None] = None

    def __init__(self, options: Options, pool: object = None) -> None:
        values = slider_values(options)
        self.sliders = {name: value for name, value in values.items() if name in EMBEDDED_SLIDERS}
        ignored = [option_specs()[f"face_editor_{name}"].flag for name in values if name in HEAD_SLIDERS]
        self.warnings: tuple[str, ...] = () if not ignored else (
            f"{', '.join(ignored)}: the embedded face editor does not turn heads (a warp of the face alone does not "
            "look like a turned head); left as they are",)

    def declines(self, face: Face) -> str | None:
        return NO_MESH if face.mesh is None else None

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        if not self.sliders:
            return frame
        for assignment in context.assignments:
            if assignment.face.mesh is not None:
                frame = edit_face(frame, assignment.face.mesh, self.sliders)
        return frame

"""face_swapper: puts each assigned source identity onto its target face."""
from __future__ import annotations

from ..face.swap import SwapSettings, swap_face
from ..options import Options, expand_padding
from ..sources import best_source_face
from ..types import FrameBGR
from .base import FrameContext


def swap_settings(options: Options) -> SwapSettings:
    padding = expand_padding(options.face_mask_padding)
    return SwapSettings(morph=options.face_swapper_morph, mask_region=options.face_mask_region,
                        mask_padding=(padding[0], padding[1], padding[2], padding[3]),
                        mask_blur=options.face_mask_blur, blend_method=options.face_swapper_blend_method)


class FaceSwapper:
    name = "face_swapper"

    def __init__(self, options: Options) -> None:
        self.settings = swap_settings(options)

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        for assignment in context.assignments:
            source = best_source_face(assignment.identity, assignment.face)
            frame = swap_face(frame, assignment.face, source, self.settings, context.stopwatch)
        return frame

"""expression_restorer: the target's own expression put back on a processed face (LivePortrait, MIT).

A swap carries the source's identity but can lose some of the target's expression (an open mouth, raised brows).
For each selected face, the original frame (before any processor) and the processed one are cropped with the same
landmarks; the motion extractor reads both expressions, which are mixed as FaceFusion does (coefficients 0, 4, 5,
8 and 9 always the processed face's; the upper or lower face's groups the target's only when chosen; the factor
0..100 mapped to 0..1.2), limited to the generator's range, and the processed face is redrawn with it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from ..analysis.align import box_mask, paste_back, warp_face
from ..inference.runtime import SessionPool
from ..neural.live_portrait import CROP_SIZE, EXPRESSION_MAX, EXPRESSION_MIN, LivePortrait, network_input
from ..options import Options
from ..types import Face, FrameBGR
from .base import FrameContext
from .masks import occlusion_masker

ALWAYS_PROCESSED = (0, 4, 5, 8, 9)
UPPER_FACE = (1, 2, 6, 10, 11, 12, 13, 15, 16)
LOWER_FACE = (3, 7, 14, 17, 18, 19, 20)


def mixed_expression(target: np.ndarray, processed: np.ndarray, factor: int, areas: Sequence[str]) -> np.ndarray:
    """The expression to draw (1 x 21 x 3): the target's where asked, by ``factor`` (0..100), limited."""
    chosen = target.copy()
    keep = list(ALWAYS_PROCESSED)
    if "upper-face" not in areas:
        keep += UPPER_FACE
    if "lower-face" not in areas:
        keep += LOWER_FACE
    chosen[:, keep] = processed[:, keep]
    share = float(np.interp(factor, [0, 100], [0.0, 1.2]))
    return np.clip(chosen * share + processed * (1 - share), EXPRESSION_MIN, EXPRESSION_MAX).astype(np.float32)


class ExpressionRestorer:
    name = "expression_restorer"
    source_type = "compositeWithTrainedAlgorithmicMedia"
    scale = 1
    needs_mesh = False
    needs_source = False
    live_refusal: ClassVar[str | None] = (
        "it needs each face's frame from before the other processors and three networks a face, too slow for a "
        "camera (FaceFusion refuses it live too)")
    warnings: tuple[str, ...] = ()

    def __init__(self, options: Options, pool: SessionPool, networks: LivePortrait | None = None) -> None:
        self.networks = networks or LivePortrait(pool)
        self.engine = "expression restorer: live_portrait (MIT (KwaiVGI LivePortrait))"
        self.factor = options.expression_restorer_factor
        self.areas: tuple[str, ...] = tuple(options.expression_restorer_areas)
        self.mask_blur = options.face_mask_blur
        self.occlusion = occlusion_masker(options, pool)

    def declines(self, face: Face) -> str | None:
        return None

    def restore(self, original: FrameBGR, original_face: Face, frame: FrameBGR, face: Face) -> FrameBGR:
        """``face`` in ``frame`` given the expression ``original_face`` has in ``original``."""
        target_crop, _ = warp_face(original, original_face.landmarks_5, "arcface_128", CROP_SIZE)
        processed_crop, matrix = warp_face(frame, face.landmarks_5, "arcface_128", CROP_SIZE)
        processed_input = network_input(processed_crop)
        target_expression = self.networks.motion(network_input(target_crop)).expression
        motion = self.networks.motion(processed_input)
        expression = mixed_expression(target_expression, motion.expression, self.factor, self.areas)
        redrawn = self.networks.generate(self.networks.features(processed_input), motion.keypoints(expression),
                                         motion.keypoints(motion.expression))
        mask = box_mask(CROP_SIZE, self.mask_blur)
        if self.occlusion is not None:  # what covers the face (a hand, a microphone) is left as it is
            mask = np.minimum(mask, self.occlusion.mask(processed_crop))
        return paste_back(frame, redrawn, mask, matrix)

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        original = context.detected if context.detected is not None else frame
        for assignment in context.assignments:
            frame = self.restore(original, context.as_detected(assignment.face), frame, assignment.face)
        return frame

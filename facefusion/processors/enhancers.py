"""face_enhancer and frame_enhancer: neural restoration of faces and upscaling of whole frames."""
from __future__ import annotations

from ..neural.enhance import FaceEnhancerModel, FrameEnhancerModel
from ..inference.resolve import resolve_model
from ..inference.runtime import SessionPool
from ..options import Options
from ..types import FrameBGR
from .base import FrameContext
from .masks import occlusion_masker


class FaceEnhancer:
    name = "face_enhancer"
    source_type = "compositeWithTrainedAlgorithmicMedia"
    """Restoration models draw new facial detail."""

    def __init__(self, options: Options, pool: SessionPool) -> None:
        resolved = resolve_model(options.face_enhancer_model, "face_enhancer", "--face-enhancer-model")
        self.engine = f"face enhancer: {resolved.description}"
        self.model = FaceEnhancerModel(resolved.path, resolved.contract, pool,
                                       blend=options.face_enhancer_blend / 100, weight=options.face_enhancer_weight,
                                       occlusion=occlusion_masker(options, pool), mask_blur=options.face_mask_blur)

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        # Every selected face is restored, swapped or not; faces the selector left out stay as they are.
        return self.model.enhance_many(frame, [assignment.face for assignment in context.assignments])


class FrameEnhancer:
    name = "frame_enhancer"
    source_type = "algorithmicallyEnhanced"

    def __init__(self, options: Options, pool: SessionPool) -> None:
        resolved = resolve_model(options.frame_enhancer_model, "frame_enhancer", "--frame-enhancer-model")
        self.engine = f"frame enhancer: {resolved.description}"
        self.model = FrameEnhancerModel(resolved.path, resolved.contract, pool,
                                        blend=options.frame_enhancer_blend / 100, downscale=resolved.downscale)

    @property
    def scale(self) -> int:
        """How many times larger the frames come out (the video writer is sized for it)."""
        return self.model.scale

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        return self.model.enhance(frame)

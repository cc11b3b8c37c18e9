"""face_enhancer and frame_enhancer: neural restoration of faces and upscaling of whole frames."""
from __future__ import annotations

import time
from typing import ClassVar

import numpy as np

from ..inference.resolve import resolve_model
from ..inference.runtime import SessionPool
from ..neural.enhance import FaceEnhancerModel, FrameEnhancerModel
from ..options import Options
from ..types import Face, FrameBGR
from .base import FrameContext
from .masks import occlusion_masker


class FaceEnhancer:
    name = "face_enhancer"
    source_type = "compositeWithTrainedAlgorithmicMedia"
    """Restoration models draw new facial detail."""
    scale = 1
    needs_mesh = False
    needs_source = False
    live_refusal: ClassVar[str | None] = None
    warnings: tuple[str, ...] = ()

    def __init__(self, options: Options, pool: SessionPool) -> None:
        resolved = resolve_model(options.face_enhancer_model, "face_enhancer", "--face-enhancer-model")
        self.engine = f"face enhancer: {resolved.description}"
        self.model = FaceEnhancerModel(resolved.path, resolved.contract, pool,
                                       blend=options.face_enhancer_blend / 100, weight=options.face_enhancer_weight,
                                       occlusion=occlusion_masker(options, pool), mask_blur=options.face_mask_blur)

    def declines(self, face: Face) -> str | None:
        return None

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        # Every selected face is restored, swapped or not; faces the selector left out stay as they are.
        return self.model.enhance_many(frame, [assignment.face for assignment in context.assignments])


class FrameEnhancer:
    name = "frame_enhancer"
    source_type = "algorithmicallyEnhanced"
    needs_mesh = False
    needs_source = False
    live_refusal: ClassVar[str | None] = (
        "it enlarges every frame 2-4 times, far too slowly for a camera and to a size the live output does not keep; "
        "enhance the recording afterwards with headless-run")
    warnings: tuple[str, ...] = ()

    def __init__(self, options: Options, pool: SessionPool) -> None:
        resolved = resolve_model(options.frame_enhancer_model, "frame_enhancer", "--frame-enhancer-model")
        self.engine = f"frame enhancer: {resolved.description}"
        self.model = FrameEnhancerModel(resolved.path, resolved.contract, pool,
                                        blend=options.frame_enhancer_blend / 100, downscale=resolved.downscale)

    @property
    def scale(self) -> int:
        """How many times larger the frames come out (the video writer is sized for it)."""
        return self.model.scale

    def declines(self, face: Face) -> str | None:
        return None

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        return self.model.enhance(frame, context.stop)

    def seconds_per_network_megapixel(self) -> float:
        """Measured now, on a small probe frame (the first run, which sets the model up, is not counted),
        per megapixel the network runs on (see FrameEnhancerModel.network_pixels): a file made for
        fixed tiles runs a whole tile even for the probe, and is timed for what it really did."""
        probe = np.random.default_rng(0).integers(0, 255, (PROBE_SIDE, PROBE_SIDE, 3), dtype=np.uint8)
        self.model.enhance(probe[:16, :16])
        start = time.perf_counter()
        self.model.enhance(probe)
        return (time.perf_counter() - start) / (self.model.network_pixels(PROBE_SIDE, PROBE_SIDE) / 1e6)


PROBE_SIDE = 48


def duration_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def frame_enhancer_estimate(enhancer: FrameEnhancer, width: int, height: int, frames: int) -> tuple[float, str]:
    """What upscaling ``frames`` frames of width x height will take on this machine: (seconds, one line,
    loud when it is hours)."""
    per_frame = enhancer.seconds_per_network_megapixel() * enhancer.model.network_pixels(height, width) / 1e6
    total = per_frame * frames
    line = (f"frame enhancer: about {duration_text(per_frame)} a frame, {duration_text(total)} for {frames} frames "
            "(measured on this machine)")
    if total >= 3600:
        line = (f"{line.upper()}: that is HOURS; a realesr_animevideo_* model is about 15x faster (cartoon-looking "
                "on photos), a GPU (--execution-providers cuda) far faster, or trim the clip")
    return total, line

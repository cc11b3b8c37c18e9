"""background_remover: the people kept, the background made transparent or painted in a colour.

Frame-level (it needs no face). The matte comes from analysis.matte (embedded or a catalogue model). Then, as
FaceFusion's processor does: the screen colour is taken out of the person (despill), the background is blended
toward the fill colour by its alpha, and the picture gets a transparency: with a transparent fill (the default)
the background's pixels are kept and made transparent, with an opaque fill the picture stays opaque. Pictures
written as png or webp keep the transparency; the report says so for other types, and video and live outputs show
the fill colour.
"""
from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from ..analysis.matte import EMBEDDED_MATTE, Matte, OnnxMatte, SelfieMatte
from ..errors import InvalidInputError
from ..inference.download import models_dir
from ..inference.resolve import candidates, choose, resolve_model
from ..inference.runtime import SessionPool
from ..options import Options
from ..types import Face, FrameBGR, Mask
from .base import FrameContext

Colour = tuple[int, int, int, int]
"""R, G, B, A: 0-255 each."""


def rgba(values: list[int]) -> Colour:
    """A colour option's 1, 3 or 4 values as R G B A (one value is an opaque grey, three an opaque colour)."""
    if len(values) == 1:
        return values[0], values[0], values[0], 255
    if len(values) == 3:
        return values[0], values[1], values[2], 255
    if len(values) == 4:
        return values[0], values[1], values[2], values[3]
    raise InvalidInputError("a colour is one value (a grey), three (R G B) or four (R G B A)")


def makes_transparency(options: Options) -> bool:
    """Whether a run with ``options`` makes its pictures transparent (the background removed, not painted over)."""
    return "background_remover" in options.processors and rgba(options.background_remover_fill_color)[3] < 255


def despill(frame: FrameBGR, colour: Colour) -> FrameBGR:
    """The screen's colour taken out of the picture: the screen's strongest channel (green for a green screen)
    is held down to the mean of the other two wherever it rises above it, by the colour's alpha."""
    strength = colour[3] / 255.0
    if strength <= 0 or max(colour[:3]) == 0:
        return frame
    screen = 2 - int(np.argmax(colour[:3]))  # R G B -> the frame's B G R index
    others = [channel for channel in range(3) if channel != screen]
    values = frame.astype(np.float32)
    limit = values[:, :, others].mean(axis=2)
    excess = np.maximum(values[:, :, screen] - limit, 0.0)
    values[:, :, screen] -= excess * strength
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)


def filled(frame: FrameBGR, matte: Mask, colour: Colour) -> FrameBGR:
    """The background blended toward the colour by the colour's alpha (the person untouched)."""
    if colour[3] == 0:
        return frame
    share = np.ascontiguousarray((1.0 - matte) * np.float32(colour[3] / 255.0))
    paint = np.empty_like(frame)
    paint[:] = colour[2::-1]  # R G B -> B G R
    return cv2.blendLinear(frame, paint, 1.0 - share, share)


def transparency(matte: Mask, fill: Colour) -> np.ndarray:
    """The picture's alpha: the person opaque, the background as transparent as the fill colour is
    (1 - (1 - matte) x (1 - fill alpha), in 0..255)."""
    opaque = fill[3] / 255.0
    return cv2.convertScaleAbs(matte, alpha=255.0 * (1.0 - opaque), beta=255.0 * opaque)


def matte_for(options: Options, pool: SessionPool) -> Matte:
    """The matte the option names; ``auto``: a catalogue model whose file is present, else the embedded one."""
    choice = options.background_remover_model
    if choice == "auto":
        choice = choose(candidates("background_remover"), models_dir()) or EMBEDDED_MATTE
    if choice == EMBEDDED_MATTE:
        return SelfieMatte()
    resolved = resolve_model(choice, "background_remover", "--background-remover-model")
    return OnnxMatte(resolved.path, resolved.contract, pool, resolved.description)


class BackgroundRemover:
    name = "background_remover"
    source_type = "composite"
    """The picture's own pixels, cut out and put on a colour: nothing is drawn anew."""
    scale = 1
    needs_mesh = False
    needs_source = False
    live_refusal: ClassVar[str | None] = None
    warnings: tuple[str, ...] = ()

    def __init__(self, options: Options, pool: SessionPool) -> None:
        self.fill = rgba(options.background_remover_fill_color)
        self.despill_colour = rgba(options.background_remover_despill_color)
        self.model = matte_for(options, pool)
        self.engine = f"background remover: {self.model.description}"

    def declines(self, face: Face) -> str | None:
        return None

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        matte = self.model.matte(frame)
        picture = filled(despill(frame, self.despill_colour), matte, self.fill)
        return np.dstack([picture, transparency(matte, self.fill)])

"""The visible label: a short text such as "AI-generated" burnt into a corner of every output picture.

Unlike the invisible watermark it asks nothing of the viewer's tools: anyone who sees the picture reads
it. The text is drawn with Pillow's built-in font (Aileron, public domain; Latin script) on a dark
rounded box, so it reads on light and dark pictures alike. A video's frames all share one size, so the
box is drawn once and blended into each frame (about a millisecond at 720p).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..options import Options
from ..types import FrameBGR

MARGIN = 0.5
"""Space between the box and the picture's edges, in text heights."""
PADDING = 0.35
"""Space between the text and the box's edges, in text heights."""
BOX_DARKNESS = 0.6
"""How much of the picture the box's black hides at full opacity (the text is white)."""


@dataclass
class LabelPainter:
    """Draws one label on frames; the drawn box is kept per frame size."""

    text: str
    position: str = "bottom-right"
    size: float = 3.0
    """Text height in percent of the picture's height."""
    opacity: float = 80.0
    """0 (invisible) to 100 (opaque box and text)."""
    _patches: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, int, int]] = field(default_factory=dict)

    def draw(self, frame: FrameBGR) -> FrameBGR:
        """A copy of ``frame`` with the label in its corner (the frame itself when the label does not fit)."""
        height, width = frame.shape[:2]
        if (height, width) not in self._patches:
            self._patches[(height, width)] = self._patch(height, width)
        colour, alpha, x, y = self._patches[(height, width)]
        if not colour.size:
            return frame
        out = frame.copy()
        region = out[y:y + colour.shape[0], x:x + colour.shape[1]].astype(np.float32)
        out[y:y + colour.shape[0], x:x + colour.shape[1]] = (region + (colour - region) * alpha).astype(np.uint8)
        return out

    def _patch(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        """The box (BGR and its blending weight) and where its top-left corner goes."""
        text_height = max(8, round(height * self.size / 100))
        font = ImageFont.load_default(size=text_height)
        left, top, right, bottom = font.getbbox(self.text)
        pad, margin = round(text_height * PADDING), round(text_height * MARGIN)
        box_width, box_height = round(right - left) + 2 * pad, round(bottom - top) + 2 * pad
        if box_width + 2 * margin > width or box_height + 2 * margin > height:
            return np.zeros((0, 0, 3), np.float32), np.zeros((0, 0, 1), np.float32), 0, 0
        box = Image.new("L", (box_width, box_height), 0)
        ImageDraw.Draw(box).rounded_rectangle((0, 0, box_width - 1, box_height - 1), radius=pad, fill=255)
        text = Image.new("L", (box_width, box_height), 0)
        ImageDraw.Draw(text).text((pad - left, pad - top), self.text, font=font, fill=255)
        strength = self.opacity / 100
        box_alpha = np.asarray(box, np.float32)[..., None] / 255 * BOX_DARKNESS * strength
        text_alpha = np.asarray(text, np.float32)[..., None] / 255 * strength
        # White text over the black box, as one layer: its weight is what the two layers cover together,
        # its colour the text's share of that.
        alpha = 1 - (1 - box_alpha) * (1 - text_alpha)
        colour = np.repeat(255 * text_alpha / np.maximum(alpha, 1e-6), 3, axis=2)
        x = margin if self.position.endswith("left") else width - margin - box_width
        y = margin if self.position.startswith("top") else height - margin - box_height
        return colour, alpha, x, y


def label_painter(options: Options) -> LabelPainter | None:
    """The painter of the label ``options`` ask for (None for no label)."""
    text = (options.output_label or "").strip()
    if not text:
        return None
    return LabelPainter(text, options.output_label_position, options.output_label_size, options.output_label_opacity)

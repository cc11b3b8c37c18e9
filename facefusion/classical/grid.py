"""The working grid of one face: a copy of the face's region a whole number of times smaller, where
everything that is smooth (masks, skin tests, colour statistics, shading, the blend's coarse levels,
warp coordinates) is computed, so that cost does not grow with the face. Only what carries detail
(sampling the source, the colour tables, the finest blend band) runs at full resolution, and only in
the box the face's mask covers.

The factor is a whole number and the region a multiple of it, so enlarging any part of the grid gives
exactly the pixels that enlarging all of it would (``cv2.resize``'s pixel-centre convention: working
pixel ``j`` sits at full position ``(j + 0.5) * factor - 0.5``), and shrinking is a plain box average.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..types import Points

WORK_FACE_SIZE = 128
"""Most a face's width (px) on the working grid; faces up to this size are worked on at full size."""

Box = tuple[int, int, int, int]
"""x1, y1, x2, y2 in full pixels of the region."""


def grid_factor(face_size: float) -> int:
    return max(1, math.ceil(face_size / WORK_FACE_SIZE))


def aligned_span(start: int, end: int, limit: int, factor: int) -> tuple[int, int]:
    """``start``..``end`` widened to a multiple of ``factor`` within 0..``limit`` (shifted back from
    the edge when needed; at most ``limit`` rounded down to a multiple)."""
    want = min(math.ceil((end - start) / factor) * factor, limit // factor * factor)
    end = start + want
    if end > limit:
        start, end = limit - want, limit
    return max(0, start), max(0, start) + want


@dataclass(frozen=True)
class WorkGrid:
    full_shape: tuple[int, int]
    """Height and width of the region at full resolution (multiples of ``factor``)."""
    factor: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.full_shape[0] // self.factor, self.full_shape[1] // self.factor

    @property
    def is_full(self) -> bool:
        return self.factor == 1

    @property
    def scale(self) -> float:
        """Working pixels per full pixel."""
        return 1.0 / self.factor

    def points(self, points: Points) -> Points:
        """Full-resolution points on the working grid."""
        return ((points[:, :2] + 0.5) / self.factor - 0.5).astype(np.float32)

    def down(self, image: np.ndarray) -> np.ndarray:
        if self.is_full:
            return image
        return cv2.resize(image, (self.shape[1], self.shape[0]), interpolation=cv2.INTER_AREA)

    def up_box(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The part ``box`` (aligned to the factor, see ``box_of``) of a working-grid image at full
        resolution, bilinear: exactly those pixels of ``up(image)``, for the cost of the box alone."""
        x1, y1, x2, y2 = box
        if self.is_full:
            return image[y1:y2, x1:x2]
        f = self.factor
        height, width = image.shape[:2]
        # One working pixel more on each side, so the edge of the box interpolates as the whole would.
        cx1, cy1 = max(0, x1 // f - 1), max(0, y1 // f - 1)
        cx2, cy2 = min(width, x2 // f + 1), min(height, y2 // f + 1)
        crop = image[cy1:cy2, cx1:cx2]
        enlarged = cv2.resize(crop, ((cx2 - cx1) * f, (cy2 - cy1) * f), interpolation=cv2.INTER_LINEAR)
        return enlarged[y1 - cy1 * f:y2 - cy1 * f, x1 - cx1 * f:x2 - cx1 * f]

    def box_of(self, mask: np.ndarray, pad: int = 1) -> Box | None:
        """Box (full pixels, on working-pixel boundaries) around the working pixels where ``mask`` is set,
        ``pad`` working pixels wider."""
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            return None
        height, width = mask.shape
        f = self.factor
        return (max(0, xs.min() - pad) * f, max(0, ys.min() - pad) * f,
                min(width, xs.max() + 1 + pad) * f, min(height, ys.max() + 1 + pad) * f)

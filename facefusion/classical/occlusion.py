"""Keeping what is not skin out of the swap, without a segmentation model.

Around the edge of the face (outside eyes, brows, nose and mouth) a pixel whose colour is far from
the face's own skin is hair, a hand, glasses or background. On the warped source it must not be
pasted (a fringe of the source's hair would come along: the source's skin from around is drawn there
instead); on the target it must be kept (the target's fringe or fingers stay in front). Skin colour is
measured robustly (median, spread) in the inner face.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..types import Mask

FAR = 2.0
"""Distance (in skin spreads) beyond which a pixel starts to count as not skin."""
RAMP = 1.5


def medians_of_levels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(median, median absolute deviation) of each column of N x C 8-bit ``values``, equal to numpy's
    ``median`` of them, read from each column's 256-level histogram: a sort of a few thousand pixels
    costs about seven times as much."""
    low, high = (len(values) - 1) // 2, len(values) // 2
    levels = np.arange(256, dtype=np.float64)

    def middle(counts: np.ndarray, sorted_levels: np.ndarray) -> float:
        """Mean of the two middle values (one when the count is odd) of levels with these counts."""
        total = np.cumsum(counts)
        return float(sorted_levels[np.searchsorted(total, low, side="right")]
                     + sorted_levels[np.searchsorted(total, high, side="right")]) / 2

    medians, deviations = [], []
    for column in range(values.shape[1]):
        counts = np.bincount(values[:, column], minlength=256)
        median = middle(counts, levels)
        distance = np.abs(levels - median)
        order = np.argsort(distance, kind="stable")
        medians.append(median)
        deviations.append(middle(counts[order], distance[order]))
    return np.array(medians), np.array(deviations)


def skin_likeness(lab: np.ndarray, skin_sample: np.ndarray, check: np.ndarray) -> Mask:
    """1 where ``lab`` (an image in OpenCV's 8-bit LAB) looks like the skin under ``skin_sample`` (uint8
    mask), falling to 0 where it does not; pixels outside ``check`` (uint8 mask) are always 1."""
    likeness = np.ones(lab.shape[:2], np.float32)
    sample = skin_sample > 127
    region = (check > 127).astype(np.uint8)
    if np.count_nonzero(sample) < 32 or not region.any():
        return likeness
    median, deviation = medians_of_levels(lab[sample])
    spread = (deviation * 1.4826 + np.array([6.0, 2.0, 2.0])).astype(np.float32)
    # Lightness varies with shading and highlights far more than hue does, so it counts for half.
    weight = (np.array([0.5, 1.0, 1.0], np.float32) / spread).astype(np.float32)
    # Only the box around the checked pixels is measured (the check is a ring around the face's core).
    x, y, width, height = cv2.boundingRect(region)
    scaled = (lab[y:y + height, x:x + width].astype(np.float32) - median.astype(np.float32)) * weight
    distance = np.sqrt(np.einsum("ijk,ijk->ij", scaled, scaled))
    near = np.clip(1.0 - (distance - FAR) / RAMP, 0.0, 1.0)
    np.copyto(likeness[y:y + height, x:x + width], near, where=region[y:y + height, x:x + width] > 0)
    return likeness

"""Keeping what is not skin out of the swap, without a segmentation model.

Around the edge of the face (outside eyes, brows, nose and mouth) a pixel whose colour is far from
the face's own skin is hair, a hand, glasses or background. On the warped source it must not be
pasted (a fringe of the source's hair would come along); on the target it must be kept (the target's
fringe or fingers stay in front). Skin colour is measured robustly (median, spread) in the inner face.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..types import Mask

FAR = 2.0
"""Distance (in skin spreads) beyond which a pixel starts to count as not skin."""
RAMP = 1.5


def skin_likeness(lab: np.ndarray, skin_sample: np.ndarray, check: np.ndarray) -> Mask:
    """1 where ``lab`` (an image in OpenCV's 8-bit LAB) looks like the skin under ``skin_sample`` (uint8
    mask), falling to 0 where it does not; pixels outside ``check`` (uint8 mask) are always 1."""
    likeness = np.ones(lab.shape[:2], np.float32)
    sample = skin_sample > 127
    region = (check > 127).astype(np.uint8)
    if np.count_nonzero(sample) < 32 or not region.any():
        return likeness
    values = lab[sample].astype(np.float32)
    median = np.median(values, axis=0)
    spread = np.median(np.abs(values - median), axis=0) * 1.4826 + np.array([6.0, 2.0, 2.0], np.float32)
    # Lightness varies with shading and highlights far more than hue does, so it counts for half.
    weight = (np.array([0.5, 1.0, 1.0], np.float32) / spread).astype(np.float32)
    # Only the box around the checked pixels is measured (the check is a ring around the face's core).
    x, y, width, height = cv2.boundingRect(region)
    scaled = (lab[y:y + height, x:x + width].astype(np.float32) - median.astype(np.float32)) * weight
    distance = np.sqrt(np.einsum("ijk,ijk->ij", scaled, scaled))
    near = np.clip(1.0 - (distance - FAR) / RAMP, 0.0, 1.0)
    np.copyto(likeness[y:y + height, x:x + width], near, where=region[y:y + height, x:x + width] > 0)
    return likeness

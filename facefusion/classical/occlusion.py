"""Keeping what is not skin out of the swap, without a segmentation model.

Around the edge of the face (outside eyes, brows, nose and mouth) a pixel whose colour is far from
the face's own skin is hair, a hand, glasses or background. On the warped source it must not be
pasted (a fringe of the source's hair would come along); on the target it must be kept (the target's
fringe or fingers stay in front). Skin colour is measured robustly (median, spread) in the inner face.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..types import FrameBGR, Mask

FAR = 2.0
"""Distance (in skin spreads) beyond which a pixel starts to count as not skin."""
RAMP = 1.5


def skin_likeness(image: FrameBGR, skin_sample: np.ndarray, check: np.ndarray) -> Mask:
    """1 where ``image`` looks like the skin under ``skin_sample`` (uint8 mask), falling to 0 where it
    does not; pixels outside ``check`` (uint8 mask) are always 1."""
    likeness = np.ones(image.shape[:2], np.float32)
    sample = skin_sample > 127
    if sample.sum() < 32 or not (check > 127).any():
        return likeness
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    values = lab[sample]
    median = np.median(values, axis=0)
    spread = np.median(np.abs(values - median), axis=0) * 1.4826 + np.array([6.0, 2.0, 2.0], np.float32)
    scaled = (lab - median) / spread
    # Lightness varies with shading and highlights far more than hue does, so it counts for half.
    scaled[..., 0] *= 0.5
    distance = np.sqrt((scaled ** 2).sum(axis=2))
    region = check > 127
    likeness[region] = np.clip(1.0 - (distance[region] - FAR) / RAMP, 0.0, 1.0)
    return likeness

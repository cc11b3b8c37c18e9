"""A source photo's shine is its own light, not its face: specular highlights are softened before the face is
drawn elsewhere.

A flash or a studio light leaves small white patches on a nose tip, a forehead or a cheekbone. Carried onto a
target lit otherwise (a soft video frame), such a patch reads as a white blot that belongs to nothing there. A
highlight is told by two things: it is brighter than the skin around it by more than the skin's own texture,
over a small area (a white top-hat of the lightness), and whiter (less saturated) than that skin. Eyes, brows and
lips are left alone: a catchlight or glossy lips are part of them.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from ..types import FrameBGR, Points, SourceFace
from .mask import features_mask, polygon_mask, region_polygon

HIGHLIGHT_SIZE = 0.06
"""Largest highlight softened, as a share of the face's size (the top-hat's disk)."""
HIGHLIGHT_LEVELS = (12.0, 30.0)
"""Lightness above the surrounding skin from which a patch starts to count as a highlight, and counts in full."""
FEATURE_MARGIN = 0.03
"""Margin (share of the face's size) around eyes, brows and lips left alone."""
WHITER_RAMP = 4.0
"""Chroma (LAB levels) by which a patch is less saturated than the skin around it when it counts as white in full."""
HIGHLIGHT_KEPT = 0.25
"""Share of a highlight's extra lightness that is kept (a face without any shine looks flat)."""


def soften_highlights(image: FrameBGR, points: Points, face_size: float) -> FrameBGR:
    """``image`` (a source photo around its face; ``points`` the face's mesh in it) with the face's specular
    highlights toned down to the skin around them. Pixels outside highlights are returned unchanged."""
    shape = (image.shape[0], image.shape[1])
    # Eyes, brows and lips with a margin: a catchlight, glossy lips and the lids' sheen are theirs.
    grow = max(1, int(round(face_size * FEATURE_MARGIN)))
    features = cv2.dilate(features_mask(points, shape), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    skin = cv2.subtract(polygon_mask(region_polygon(points, "face-oval"), shape), features)
    if np.count_nonzero(skin) < 64:
        return image
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lightness = lab[..., 0]
    side = max(3, int(round(face_size * HIGHLIGHT_SIZE)) | 1)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    excess = cv2.morphologyEx(lightness, cv2.MORPH_TOPHAT, disk).astype(np.float32)
    start, full = HIGHLIGHT_LEVELS
    weight = np.clip((excess - start) / (full - start), 0.0, 1.0) * (skin > 127)
    # Whiter than the skin around it: the chroma of the surroundings (highlights left out) against its own.
    a, b = (lab[..., channel].astype(np.float32) - 128 for channel in (1, 2))
    around = (weight < 0.5).astype(np.float32)
    sigma = max(1.0, side / 2)
    total = np.maximum(cv2.GaussianBlur(around, (0, 0), sigma), 1e-3)
    around_a = cv2.GaussianBlur(a * around, (0, 0), sigma) / total
    around_b = cv2.GaussianBlur(b * around, (0, 0), sigma) / total
    whiter = np.clip((np.hypot(around_a, around_b) - np.hypot(a, b)) / WHITER_RAMP, 0.0, 1.0)
    weight = cv2.GaussianBlur(weight * whiter, (0, 0), 1.0)
    if weight.max() <= 1e-3:
        return image
    softened = np.stack([lightness - weight * excess * (1.0 - HIGHLIGHT_KEPT),
                         128 + a + weight * (around_a - a), 128 + b + weight * (around_b - b)], axis=2)
    result = cv2.cvtColor(np.clip(np.round(softened), 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)
    changed = (weight > 1e-3).astype(np.uint8)
    out = image.copy()
    cv2.copyTo(result, changed, out)
    return out


def without_shine(source: SourceFace) -> SourceFace:
    """``source`` with its photo's shine toned down (see ``soften_highlights``), for the embedded engine to draw."""
    if source.face.mesh is None:
        return source
    return dataclasses.replace(source, image=soften_highlights(source.image, source.face.mesh, source.face.size))

"""Colour, lighting and blending: make a warped face sit in its new picture."""
from __future__ import annotations

import cv2
import numpy as np

from ..types import FrameBGR, Mask

MAX_COLOUR_SPREAD = 1.1
"""Most the a/b (colour) spread of the source's skin is widened to match the target's."""
MAX_LIGHT_SPREAD_WITH_SHADING = 1.15
SKIN_CHROMA_NEAR = 2.5
SKIN_CHROMA_RAMP = 2.0
"""A pixel takes the full skin-tone shift within NEAR spreads of the skin's colour, none beyond NEAR+RAMP."""


def _lowpass_difference(target: np.ndarray, source: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Low-pass of ``target`` minus low-pass of ``source``, each averaged only under ``weight``
    (nothing bleeds in from outside the face). Computed at a reduced size, since a low-pass has no
    detail to lose, and returned at full size."""
    height, width = target.shape
    factor = max(1, int(sigma / 3))
    size = (max(1, width // factor), max(1, height // factor))
    small_weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    denominator = np.maximum(cv2.GaussianBlur(small_weight, (0, 0), sigma / factor), 1e-3)
    lowpass = []
    for channel in (target, source):
        small = cv2.resize(channel.astype(np.float32) * weight, size, interpolation=cv2.INTER_AREA)
        lowpass.append(cv2.GaussianBlur(small, (0, 0), sigma / factor) / denominator)
    return cv2.resize(lowpass[0] - lowpass[1], (width, height), interpolation=cv2.INTER_LINEAR)


def match_colour_and_light(face: FrameBGR, scene: FrameBGR, face_skin: np.ndarray, scene_skin: np.ndarray,
                           face_size: float, lighting: bool = True) -> FrameBGR:
    """Give the warped face the scene's colour statistics (LAB mean and spread) and, with
    ``lighting``, the scene face's low-frequency shading, so a frontally lit source does not look
    pasted into a side-lit picture. ``face_skin`` and ``scene_skin`` (bool) mark the skin to measure
    in each image: hair or a hand in either must not pull the statistics."""
    if np.count_nonzero(face_skin) < 16 or np.count_nonzero(scene_skin) < 16:
        return face
    face_lab = cv2.cvtColor(face, cv2.COLOR_BGR2LAB)
    scene_lab = cv2.cvtColor(scene, cv2.COLOR_BGR2LAB)
    f_mean, f_std = (value.ravel() for value in cv2.meanStdDev(face_lab, mask=face_skin.astype(np.uint8)))
    s_mean, s_std = (value.ravel() for value in cv2.meanStdDev(scene_lab, mask=scene_skin.astype(np.uint8)))
    # Spread is matched within bounds, lightness only part-way: full matching exaggerates noise on
    # flat-lit sources. Colour spread is never widened by more than a little: a ruddy target would
    # otherwise stretch the source's lips and eye make-up into paint (they sit far from the skin's mean).
    ratio = np.clip((s_std + 1e-3) / (f_std + 1e-3), 0.6, 1.6)
    ratio[0] = ratio[0] ** 0.7
    if lighting:
        # The target's lightness spread is mostly its lighting, which the shading transfer below brings
        # over by itself: widening the source's own light and shade as well would count it twice.
        ratio[0] = min(ratio[0], MAX_LIGHT_SPREAD_WITH_SHADING)
    ratio[1:] = np.minimum(ratio[1:], MAX_COLOUR_SPREAD)
    # The per-channel mapping is a lookup table: one pass over the pixels.
    levels = np.arange(256, dtype=np.float64)[:, None]
    table = np.clip(np.round((levels - f_mean) * ratio + s_mean), 0, 255).astype(np.uint8)
    lightness = cv2.LUT(face_lab[..., 0], table[:, 0].copy())
    # Colour moves with how skin-like a pixel's colour is: the skin takes the target's tone, while
    # brows, eyes, lashes and lips keep theirs (a skin-tone shift on a near-grey brow turns it blue or
    # green; on lips it turns make-up into paint). Lightness moves everywhere. Both colour channels
    # come from one 256x256 table indexed by the pixel's (a, b): one lookup a pixel.
    grid_a, grid_b = np.meshgrid(levels[:, 0], levels[:, 0], indexing="ij")
    spread = np.maximum(f_std[1:], 2.0)
    distance = np.sqrt(((grid_a - f_mean[1]) / spread[0]) ** 2 + ((grid_b - f_mean[2]) / spread[1]) ** 2)
    skin_like = np.clip(1.0 - (distance - SKIN_CHROMA_NEAR) / SKIN_CHROMA_RAMP, 0.0, 1.0)
    moved_a = np.round(grid_a + skin_like * (table[:, 1][:, None] - grid_a)).astype(np.uint8)
    moved_b = np.round(grid_b + skin_like * (table[:, 2][None, :] - grid_b)).astype(np.uint8)
    index = face_lab[..., 1].astype(np.intp) * 256 + face_lab[..., 2]
    face_lab = cv2.merge([lightness, moved_a.ravel()[index], moved_b.ravel()[index]])
    if lighting:
        weight = (face_skin & scene_skin).astype(np.float32)
        shading = _lowpass_difference(scene_lab[..., 0], face_lab[..., 0], weight, max(2.0, 0.07 * face_size))
        # Bounded, so a patch the skin test let through cannot be lifted into a grey smear.
        lightness = cv2.add(face_lab[..., 0], np.clip(shading, -40, 40), dtype=cv2.CV_8U)
        face_lab = cv2.merge([lightness, face_lab[..., 1], face_lab[..., 2]])
    return cv2.cvtColor(face_lab, cv2.COLOR_LAB2BGR)


def feather_blend(face: FrameBGR, scene: FrameBGR, mask: Mask) -> FrameBGR:
    alpha = mask[..., None]
    return (face.astype(np.float32) * alpha + scene.astype(np.float32) * (1 - alpha) + 0.5).astype(np.uint8)


def multiband_blend(face: FrameBGR, scene: FrameBGR, mask: Mask, levels: int) -> FrameBGR:
    """Laplacian-pyramid blend: coarse bands mix over wide areas, fine bands over narrow ones, so
    colour steps vanish without blurring detail. The result keeps the scene where the mask is 0.

    Blending is linear, so it is computed on the difference: scene + blend(face - scene, 0, mask) is
    the same picture as the textbook two-pyramid form for half the work."""
    height, width = mask.shape
    levels = max(1, min(levels, int(np.log2(max(min(height, width), 2))) - 2))
    difference = [cv2.subtract(face, scene, dtype=cv2.CV_32F)]
    weights = [mask.astype(np.float32)]
    for _ in range(levels):
        difference.append(cv2.pyrDown(difference[-1]))
        weights.append(cv2.pyrDown(weights[-1]))
    blended = difference[-1] * weights[-1][..., None]
    for level in range(levels - 1, -1, -1):
        size = (difference[level].shape[1], difference[level].shape[0])
        band = difference[level] - cv2.pyrUp(difference[level + 1], dstsize=size)
        blended = cv2.pyrUp(blended, dstsize=size) + band * weights[level][..., None]
    result = cv2.add(scene, blended, dtype=cv2.CV_8U)
    # Outside the mask the picture must stay exactly as it was.
    untouched = (mask <= 1e-3).astype(np.uint8)
    cv2.copyTo(scene, untouched, result)
    return result


def poisson_blend(face: FrameBGR, scene: FrameBGR, mask: Mask) -> FrameBGR:
    """Gradient-domain (seamless clone) blend; falls back to feathering on degenerate masks."""
    hard = (mask > 0.5).astype(np.uint8) * 255
    ys, xs = np.nonzero(hard)
    if len(xs) < 16:
        return feather_blend(face, scene, mask)
    centre = (int((xs.min() + xs.max() + 1) // 2), int((ys.min() + ys.max() + 1) // 2))
    try:
        cloned = cv2.seamlessClone(face, scene, hard, centre, cv2.NORMAL_CLONE)
    except cv2.error:
        return feather_blend(face, scene, mask)
    return feather_blend(cloned, scene, mask)

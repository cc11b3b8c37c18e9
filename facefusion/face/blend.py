"""Colour, lighting and blending: make a warped face sit in its new picture."""
from __future__ import annotations

import cv2
import numpy as np

from ..types import FrameBGR, Mask


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
    # flat-lit sources and turns make-up into paint.
    ratio = np.clip((s_std + 1e-3) / (f_std + 1e-3), 0.6, 1.6)
    ratio[0] = ratio[0] ** 0.7
    # The per-channel mapping is a lookup table: one pass over the pixels.
    levels = np.arange(256, dtype=np.float64)[:, None]
    table = np.clip(np.round((levels - f_mean) * ratio + s_mean), 0, 255).astype(np.uint8)
    face_lab = cv2.LUT(face_lab, table.reshape(256, 1, 3))
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

"""Colour, lighting and blending: make a warped face sit in its new picture."""
from __future__ import annotations

import cv2
import numpy as np

from ..types import FrameBGR, Mask


def _masked_lowpass(channel: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass that only averages pixels under the weight (no bleeding from outside).

    Computed at a reduced size (a low-pass has no detail to lose), which makes it several times faster."""
    height, width = channel.shape
    factor = max(1, int(sigma / 3))
    size = (max(1, width // factor), max(1, height // factor))
    small_channel = cv2.resize(channel * weight, size, interpolation=cv2.INTER_AREA)
    small_weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    numerator = cv2.GaussianBlur(small_channel, (0, 0), sigma / factor)
    denominator = cv2.GaussianBlur(small_weight, (0, 0), sigma / factor)
    lowpass = numerator / np.maximum(denominator, 1e-3)
    return cv2.resize(lowpass, (width, height), interpolation=cv2.INTER_LINEAR)


def match_colour_and_light(face: FrameBGR, scene: FrameBGR, face_skin: np.ndarray, scene_skin: np.ndarray,
                           face_size: float, lighting: bool = True) -> FrameBGR:
    """Give the warped face the scene's colour statistics (LAB mean and spread) and, with
    ``lighting``, the scene face's low-frequency shading, so a frontally lit source does not look
    pasted into a side-lit picture. ``face_skin`` and ``scene_skin`` (bool) mark the skin to measure
    in each image: hair or a hand in either must not pull the statistics."""
    if face_skin.sum() < 16 or scene_skin.sum() < 16:
        return face
    face_lab = cv2.cvtColor(face, cv2.COLOR_BGR2LAB).astype(np.float32)
    scene_lab = cv2.cvtColor(scene, cv2.COLOR_BGR2LAB).astype(np.float32)
    for channel in range(3):
        f, s = face_lab[..., channel], scene_lab[..., channel]
        f_mean, f_std = f[face_skin].mean(), f[face_skin].std() + 1e-3
        s_mean, s_std = s[scene_skin].mean(), s[scene_skin].std() + 1e-3
        # Lightness spread is matched only part-way (full matching exaggerates noise on flat-lit
        # sources); colour spread fully, or a warm, saturated scene gets a pale face.
        if channel == 0:
            ratio = float(np.clip(s_std / f_std, 0.6, 1.6)) ** 0.7
        else:
            ratio = float(np.clip(s_std / f_std, 0.5, 3.0))
        face_lab[..., channel] = (f - f_mean) * ratio + s_mean
    if lighting:
        sigma = max(2.0, 0.07 * face_size)
        weight = (face_skin & scene_skin).astype(np.float32)
        shading_scene = _masked_lowpass(scene_lab[..., 0], weight, sigma)
        shading_face = _masked_lowpass(face_lab[..., 0], weight, sigma)
        # Bounded, so a patch the skin test let through cannot be lifted into a grey smear.
        face_lab[..., 0] += np.clip(shading_scene - shading_face, -40, 40)
    return cv2.cvtColor(np.clip(face_lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def feather_blend(face: FrameBGR, scene: FrameBGR, mask: Mask) -> FrameBGR:
    alpha = mask[..., None]
    return (face.astype(np.float32) * alpha + scene.astype(np.float32) * (1 - alpha) + 0.5).astype(np.uint8)


def multiband_blend(face: FrameBGR, scene: FrameBGR, mask: Mask, levels: int) -> FrameBGR:
    """Laplacian-pyramid blend: coarse bands mix over wide areas, fine bands over narrow ones, so
    colour steps vanish without blurring detail. The result keeps the scene where the mask is 0."""
    height, width = mask.shape
    levels = max(1, min(levels, int(np.log2(max(min(height, width), 2))) - 2))
    face_g = [face.astype(np.float32)]
    scene_g = [scene.astype(np.float32)]
    mask_g = [mask.astype(np.float32)]
    for _ in range(levels):
        face_g.append(cv2.pyrDown(face_g[-1]))
        scene_g.append(cv2.pyrDown(scene_g[-1]))
        mask_g.append(cv2.pyrDown(mask_g[-1]))
    blended = face_g[-1] * mask_g[-1][..., None] + scene_g[-1] * (1 - mask_g[-1][..., None])
    for level in range(levels - 1, -1, -1):
        size = (face_g[level].shape[1], face_g[level].shape[0])
        face_l = face_g[level] - cv2.pyrUp(face_g[level + 1], dstsize=size)
        scene_l = scene_g[level] - cv2.pyrUp(scene_g[level + 1], dstsize=size)
        m = mask_g[level][..., None]
        blended = cv2.pyrUp(blended, dstsize=size) + face_l * m + scene_l * (1 - m)
    result = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    # Outside the mask the picture must stay exactly as it was.
    untouched = mask <= 1e-3
    result[untouched] = scene[untouched]
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

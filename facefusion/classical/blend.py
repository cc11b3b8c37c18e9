"""Colour, lighting and blending: make a warped face sit in its new picture."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from ..types import FrameBGR, Mask

MAX_COLOUR_SPREAD = 1.1
"""Most the a/b (colour) spread of the source's skin is widened to match the target's."""
MAX_LIGHT_SPREAD_WITH_SHADING = 1.15
SHADING_BOUND = 40.0
SHADING_BOUND_SPREADS = 1.5
SHADING_BOUND_TARGET_SPREADS = 2.0
"""The shading added to a face is bounded by the largest of BOUND levels, SPREADS times the spread of
the source skin's lightness and TARGET_SPREADS times the target skin's: a face lit hard from one side
(a studio black-and-white portrait: spread 35) needs more than BOUND to take its shadows."""
BROAD_SHADING = 0.175
FINE_SHADING = 0.07
"""Blurs (shares of the face's size) of the target's shading brought onto the new face. The broad one carries
the light (a side light, a shadowed half) and not the target's own relief: the shadows of its nose, brows and
cheekbones are much of who it is (bench/identity.py: with the fine blur everywhere 3 of the 90 development
pairs still read as the target and 82 as the source; with the broad one except under a hard light, 2 and 84).
Under a hard light the relief is the light, and the fine one is needed to keep it (a grimace lit from the side
came out 12 levels too dark on its lit side with the broad one alone)."""
HARD_LIGHT_SPREAD = (30.0, 42.0)
"""Lightness spread of the target's skin from which its fine shading starts to be brought over, and at which it
is brought over in full. Measured: evenly lit portraits 16-32, faces lit hard from one side 43-50."""
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


def _chroma_lookup(table: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``table[a, b]`` for every pixel (a 256x256 two-channel lookup), done by ``cv2.remap`` with
    integer coordinates: one vectorised pass instead of numpy's gather."""
    coordinates = cv2.merge([b, a]).astype(np.int16)
    moved = cv2.remap(table, coordinates, None, interpolation=cv2.INTER_NEAREST)
    return moved[..., 0].copy(), moved[..., 1].copy()


@dataclass(frozen=True)
class ColourTransfer:
    """How a warped face takes the scene's colour: a lightness table, a two-channel chroma table and,
    with lighting, the low-frequency shading to add (on the working grid)."""

    lightness: np.ndarray
    chroma: np.ndarray
    shading: np.ndarray | None

    def apply(self, face: FrameBGR, shading: np.ndarray | None = None) -> FrameBGR:
        """The face (any resolution) with the tables applied and ``shading`` (the same size) added."""
        lightness, a, b = cv2.split(cv2.cvtColor(face, cv2.COLOR_BGR2LAB))
        channels = [cv2.LUT(lightness, self.lightness), *_chroma_lookup(self.chroma, a, b)]
        if shading is not None:
            channels[0] = cv2.add(channels[0], shading, dtype=cv2.CV_8U)
        return cv2.cvtColor(cv2.merge(channels), cv2.COLOR_LAB2BGR)


FEATURE_COLOUR_FULL = 0.5
"""A target skin this saturated or more, relative to the source's skin, leaves lips and eyes their own
colour; less saturated (a black-and-white, sepia or graded photo) drains them in proportion."""


def feature_colour_share(face_mean: np.ndarray, scene_mean: np.ndarray) -> float:
    """How much of their own colour a face's lips, eyes and brows keep (0..1) in this scene: the
    target skin's saturation over the source skin's, scaled so that a colour photo keeps all of it."""
    target = float(np.hypot(scene_mean[1] - 128, scene_mean[2] - 128))
    source = float(np.hypot(face_mean[1] - 128, face_mean[2] - 128))
    # Squared: a faint tint (an old print, a graded still) leaves features only a trace of colour.
    return float(np.clip(target / max(source, 1.0) / FEATURE_COLOUR_FULL, 0.0, 1.0) ** 2)


def colour_transfer(face_lab: np.ndarray, scene_lab: np.ndarray, face_skin: np.ndarray, scene_skin: np.ndarray,
                    face_size: float, lighting: bool = True, shaded: np.ndarray | None = None) -> ColourTransfer | None:
    """Measure how to give the warped face (``face_lab``, in OpenCV's 8-bit LAB like ``scene_lab``) the
    scene's colour statistics (LAB mean and spread) and,
    with ``lighting``, the scene face's low-frequency shading, so a frontally lit source does not look
    pasted into a side-lit picture. ``face_skin`` and ``scene_skin`` (bool) mark the skin to measure
    in each image: hair or a hand in either must not pull the statistics; ``shaded`` (bool, default
    ``face_skin``) the face's skin that takes the shading. None when there is too little skin to measure."""
    if np.count_nonzero(face_skin) < 16 or np.count_nonzero(scene_skin) < 16:
        return None
    f_mean, f_std = (value.ravel() for value in cv2.meanStdDev(face_lab, mask=face_skin.astype(np.uint8)))
    s_mean, s_std = (value.ravel() for value in cv2.meanStdDev(scene_lab, mask=scene_skin.astype(np.uint8)))
    # Spread is matched within bounds, lightness only part-way: full matching exaggerates noise on
    # flat-lit sources. Colour spread is never widened by more than a little: a ruddy target would
    # otherwise stretch the source's lips and eye make-up into paint (they sit far from the skin's mean).
    keep = feature_colour_share(f_mean, s_mean)
    ratio = np.clip((s_std + 1e-3) / (f_std + 1e-3), 0.6 * keep, 1.6)
    ratio[0] = ratio[0] ** 0.7
    if lighting:
        # The target's lightness spread is mostly its lighting, which the shading transfer below brings
        # over by itself: widening the source's own light and shade as well would count it twice.
        ratio[0] = min(ratio[0], MAX_LIGHT_SPREAD_WITH_SHADING)
    ratio[1:] = np.minimum(ratio[1:], MAX_COLOUR_SPREAD)
    levels = np.arange(256, dtype=np.float64)[:, None]
    table = np.clip(np.round((levels - f_mean) * ratio + s_mean), 0, 255).astype(np.uint8)
    levels = levels[:, 0].astype(np.float32)
    # Colour moves with how skin-like a pixel's colour is: the skin takes the target's tone, while
    # brows, eyes, lashes and lips keep theirs (a skin-tone shift on a near-grey brow turns it blue or
    # green; on lips it turns make-up into paint). Lightness moves everywhere. Both colour channels
    # come from one 256x256 table indexed by the pixel's (a, b): one lookup a pixel. Everything but
    # the skin likeness depends on a or on b alone, so the table is built from 256-long rows and columns.
    spread = np.maximum(f_std[1:], 2.0).astype(np.float32)
    distance = np.sqrt(np.add.outer(((levels - f_mean[1]) / spread[0]) ** 2, ((levels - f_mean[2]) / spread[1]) ** 2))
    skin_like = np.clip(1.0 - (distance - SKIN_CHROMA_NEAR) / SKIN_CHROMA_RAMP, 0.0, 1.0).astype(np.float32)
    # Lips, eyes and brows keep their colour in a colour photo; in a black-and-white or sepia one they
    # take its tint in proportion (a source's red lips on a grey photo are the first thing one sees).
    feature_a = (128 + (levels - 128) * keep + (s_mean[1] - 128) * (1 - keep)).astype(np.float32)
    feature_b = (128 + (levels - 128) * keep + (s_mean[2] - 128) * (1 - keep)).astype(np.float32)
    moved_a = feature_a[:, None] + skin_like * (table[:, 1] - feature_a)[:, None]
    moved_b = feature_b[None, :] + skin_like * (table[:, 2] - feature_b)[None, :]
    chroma = cv2.merge([np.round(moved_a).astype(np.uint8), np.round(moved_b).astype(np.uint8)])
    transfer = ColourTransfer(table[:, 0].copy(), chroma, None)
    if not lighting:
        return transfer
    mapped_lightness = cv2.LUT(face_lab[..., 0], transfer.lightness)
    weight = ((face_skin if shaded is None else shaded) & scene_skin).astype(np.float32)
    shading = _lowpass_difference(scene_lab[..., 0], mapped_lightness, weight, max(2.0, BROAD_SHADING * face_size))
    hard_light = float(np.clip((s_std[0] - HARD_LIGHT_SPREAD[0]) / (HARD_LIGHT_SPREAD[1] - HARD_LIGHT_SPREAD[0]), 0, 1))
    if hard_light > 0:
        fine = _lowpass_difference(scene_lab[..., 0], mapped_lightness, weight, max(2.0, FINE_SHADING * face_size))
        shading += hard_light * (fine - shading)
    # Bounded, so a patch the skin test let through cannot be lifted into a grey smear; a source lit hard
    # from one side needs more than that to lose its shadow (its half in shade would stay a dark mask).
    bound = max(SHADING_BOUND, SHADING_BOUND_SPREADS * float(f_std[0]), SHADING_BOUND_TARGET_SPREADS * float(s_std[0]))
    return dataclasses.replace(transfer, shading=np.clip(shading, -bound, bound).astype(np.float32))


DETAIL_BLURS = (0.6, 0.9, 1.3, 1.8, 2.5)
"""Blurs (pixels) tried, in order, to bring a source's fine detail down to the target's."""
DETAIL_SLACK = 1.15
"""A source may keep this much more fine detail than the target before it is softened."""


def fine_detail(lightness: np.ndarray, skin: np.ndarray) -> float:
    """Mean absolute difference between lightness and its 1-pixel blur over ``skin`` (bool): pores, grain."""
    if np.count_nonzero(skin) < 64:
        return 0.0
    blurred = cv2.GaussianBlur(lightness, (0, 0), 1.0)
    return float(cv2.absdiff(lightness, blurred)[skin].mean())


def matched_detail(face: FrameBGR, scene: FrameBGR, skin: np.ndarray) -> FrameBGR:
    """``face`` softened, if need be, to about the fine detail of ``scene`` (both full resolution, the same
    size) on their shared ``skin``. A source photo's sharp pores and grain on a soft video frame look pasted in,
    and they swim from frame to frame as the warp moves them by fractions of a pixel."""
    wanted = fine_detail(cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY), skin) * DETAIL_SLACK
    grey_face = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    if wanted <= 0.0 or fine_detail(grey_face, skin) <= wanted:
        return face
    # Tried on the grey face, the colour face blurred once with the blur found.
    chosen = next((sigma for sigma in DETAIL_BLURS
                   if fine_detail(cv2.GaussianBlur(grey_face, (0, 0), sigma), skin) <= wanted), DETAIL_BLURS[-1])
    return cv2.GaussianBlur(face, (0, 0), chosen)


def feather_blend(face: FrameBGR, scene: FrameBGR, mask: Mask) -> FrameBGR:
    return cv2.blendLinear(face, scene, mask, 1.0 - mask)


def _multiband_difference(difference: np.ndarray, mask: Mask, levels: int) -> np.ndarray:
    """Laplacian-pyramid blend of ``difference`` (face - scene, float) toward 0 under ``mask``."""
    height, width = mask.shape
    levels = max(1, min(levels, int(np.log2(max(min(height, width), 2))) - 2))
    differences = [difference]
    weights = [mask.astype(np.float32)]
    for _ in range(levels):
        differences.append(cv2.pyrDown(differences[-1]))
        weights.append(cv2.pyrDown(weights[-1]))
    blended = differences[-1] * weights[-1][..., None]
    for level in range(levels - 1, -1, -1):
        size = (differences[level].shape[1], differences[level].shape[0])
        band = differences[level] - cv2.pyrUp(differences[level + 1], dstsize=size)
        blended = cv2.pyrUp(blended, dstsize=size) + band * weights[level][..., None]
    return blended


def coarse_levels(face: FrameBGR, scene: FrameBGR, mask: Mask, levels: int) -> np.ndarray:
    """What a multiband blend adds to a plain feather of ``face`` over ``scene`` (float, smooth): the
    coarse levels, computed on the working grid and added at full resolution to a full-resolution
    feather (``feather_blend(...) + enlarged coarse levels`` is the multiband blend, with the finest
    band mixed at full sharpness)."""
    difference = cv2.subtract(face, scene, dtype=cv2.CV_32F)
    return _multiband_difference(difference, mask, levels) - difference * mask[..., None]


def keep_outside(result: FrameBGR, scene: FrameBGR, mask: Mask) -> FrameBGR:
    """Outside the mask the picture must stay exactly as it was."""
    cv2.copyTo(scene, (mask <= 1e-3).astype(np.uint8), result)
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

"""Glasses, for the classical engine: found by their bridge, kept in front on a target, taken off a source.

Warped through the mesh, a source's frames land on the target as a ghost of glasses it never wore,
and a target's own frames vanish under the new face. Frames are thin, dark lines around the eyes;
what tells them from the creases, lashes and brows every face has is the bridge over the nose
between the eyes, where a bare face is smooth skin. So a face counts as wearing glasses when a dark
line crosses that bridge, and its frames are the thin dark lines near the eyes connected to it.

Everything is measured on an upright crop where the eyes are ``EYE_DISTANCE`` apart, whatever the
face's size and roll. Clear or very light frames barely differ from skin and are not found; their
ghost is as faint as they are.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from ..analysis.topology import FACE_OVAL, IMAGE_LEFT_BROW, IMAGE_LEFT_EYE, IMAGE_RIGHT_BROW, IMAGE_RIGHT_EYE, NOSE
from ..types import FrameBGR, Mask, Points, SourceFace

EYE_DISTANCE = 64.0
"""Eye centres' distance on the measuring crop (about a 160 px wide face)."""
CROP_SIZE = 200
EYE_LINE = (100.0, 90.0)
"""Where the midpoint between the eyes lies on the crop."""
BRIDGE_SCORE = 40.0
"""Darkness of the line across the nose bridge (black-hat of lightness, 8-bit) above which a face wears
glasses. Measured: dark frames 92-105; the 30 development photos without glasses 16 at most (creases of
a frown), clear frames 5-15 (not found)."""
LINE_SHARE = 0.15
"""A frame pixel is at least this share of the bridge's darkness (and at least ``LINE_FLOOR``): thin
metal rims are much fainter than the bridge and its pads."""
LINE_FLOOR = 12.0
_BRIDGE = (slice(int(EYE_LINE[1]) - 12, int(EYE_LINE[1]) + 10), slice(int(EYE_LINE[0]) - 7, int(EYE_LINE[0]) + 8))
"""The nose bridge on the crop: between the eyes, at eye height."""


def _to_crop(points: Points) -> np.ndarray:
    """2x3 affine from image coordinates to the upright measuring crop."""
    left = points[list(IMAGE_LEFT_EYE), :2].mean(axis=0)
    right = points[list(IMAGE_RIGHT_EYE), :2].mean(axis=0)
    delta = right - left
    scale = EYE_DISTANCE / max(float(np.linalg.norm(delta)), 1e-6)
    angle = float(np.degrees(np.arctan2(delta[1], delta[0])))
    centre = (left + right) / 2
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    matrix[:, 2] += np.array(EYE_LINE) - centre
    return matrix


def _fill(loops: tuple[tuple[int, ...], ...], points: np.ndarray, grow: int) -> np.ndarray:
    mask = np.zeros((CROP_SIZE, CROP_SIZE), np.uint8)
    for loop in loops:
        hull = cv2.convexHull(points[list(loop)].astype(np.float32))
        cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 255)
    return cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) if grow else mask


BLACK_HAT_REACH = 8
"""Pixels of the crop a black-hat value depends on, each way (a 9x9 closing: dilate, then erode)."""
_BRIDGE_WINDOW = (slice(_BRIDGE[0].start - BLACK_HAT_REACH, _BRIDGE[0].stop + BLACK_HAT_REACH),
                  slice(_BRIDGE[1].start - BLACK_HAT_REACH, _BRIDGE[1].stop + BLACK_HAT_REACH))
"""The part of the crop the bridge's black-hat values are worked out from."""
_WHOLE_CROP = (slice(0, CROP_SIZE), slice(0, CROP_SIZE))
LENS_TOP = int(EYE_LINE[1] - 0.5 * EYE_DISTANCE)
LENS_BOTTOM = int(EYE_LINE[1] + 0.75 * EYE_DISTANCE)
"""Rows of the crop between which frames are looked for: from just under the brows to the cheekbones."""
_LENS_WINDOW = (slice(LENS_TOP - BLACK_HAT_REACH, LENS_BOTTOM + BLACK_HAT_REACH), slice(0, CROP_SIZE))
"""The part of the crop the frames' black-hat values are worked out from (half of it)."""


def _to_window(to_crop: np.ndarray, window: tuple[slice, slice]) -> np.ndarray:
    """The affine to the crop made an affine to ``window`` of it."""
    rows, columns = window
    return to_crop - np.array([[0, 0, columns.start], [0, 0, rows.start]])


def line_darkness(image: FrameBGR, points: Points, window: tuple[slice, slice] = _WHOLE_CROP
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(affine to the measuring crop, how much darker each pixel of ``window`` of the crop is than its
    9 px neighbourhood) for the face with mesh ``points``: the black-hat of the lightness (8-bit
    levels), thin dark lines. Within ``BLACK_HAT_REACH`` of a window's edge the values are those of a
    picture that ends there."""
    to_crop = _to_crop(points)
    rows, columns = window
    crop = cv2.warpAffine(image, _to_window(to_crop, window), (columns.stop - columns.start, rows.stop - rows.start),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    lightness = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)[..., 0]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    return to_crop, cv2.morphologyEx(lightness, cv2.MORPH_BLACKHAT, kernel).astype(np.float32)


def bridge_darkness(image: FrameBGR, points: Points) -> float:
    """How dark a line crosses the nose bridge of the face with mesh ``points``: per column of the
    bridge, the darkest black-hat value at eye height; the median over the columns (a line spans them
    all, a spot does not). Only the bridge's window of the crop is worked out: most faces wear no
    glasses, and this is all it takes to tell (a tenth of the whole crop's cost)."""
    _, darkness = line_darkness(image, points, _BRIDGE_WINDOW)
    reach = BLACK_HAT_REACH
    return float(np.median(darkness[reach:-reach, reach:-reach].max(axis=0)))


def frame_mask(image: FrameBGR, points: Points) -> Mask | None:
    """Soft 0..1 mask (``image``'s size) of the glasses' frames on the face with mesh ``points``; None when
    the face wears none that can be seen."""
    bridge = bridge_darkness(image, points)
    if bridge < BRIDGE_SCORE:
        return None
    rows, _ = _LENS_WINDOW
    to_crop, darkness = line_darkness(image, points, _LENS_WINDOW)
    band = lens_band(points, to_crop)[_LENS_WINDOW]
    lines = ((darkness > max(LINE_FLOOR, LINE_SHARE * bridge)) & (band > 0)).astype(np.uint8)
    lines = cv2.morphologyEx(lines, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    _, labels = cv2.connectedComponents(lines, connectivity=8)
    on_bridge = np.unique(labels[_BRIDGE[0].start - rows.start:_BRIDGE[0].stop - rows.start, _BRIDGE[1]])
    frames = np.isin(labels, on_bridge[on_bridge > 0]).astype(np.float32)
    if not frames.any():
        return None
    # Soft edges, but the line itself whole: a frame kept at 90 % shows the face through it.
    frames = np.clip(cv2.GaussianBlur(cv2.dilate(frames, np.ones((3, 3), np.uint8)), (0, 0), 1.0) * 1.6, 0, 1)
    return _to_image(frames, _to_window(to_crop, _LENS_WINDOW), image.shape)


def lens_band(points: Points, to_crop: np.ndarray) -> np.ndarray:
    """The band where frames can lie, on the measuring crop (uint8; see ``_lens_band``)."""
    return _lens_band(np.c_[points[:, :2], np.ones(len(points))] @ to_crop.T)


def _lens_band(crop_points: np.ndarray) -> np.ndarray:
    """Where frames can lie on the crop (uint8): a band from just under the brows to the cheekbones,
    inside the face, without the eyes (lashes), the brows and the nose below the pads (its sides are
    shading) - dark lines every face has."""
    band = _fill((FACE_OVAL,), crop_points, 0)
    band[:LENS_TOP] = 0
    band[LENS_BOTTOM:] = 0
    nose = _fill((NOSE,), crop_points, 1)
    nose[:int(EYE_LINE[1] + 0.2 * EYE_DISTANCE)] = 0
    features = _fill((IMAGE_LEFT_EYE, IMAGE_RIGHT_EYE), crop_points, 1) | _fill((IMAGE_LEFT_BROW, IMAGE_RIGHT_BROW),
                                                                               crop_points, 1)
    return band & ~(features | nose)


def _to_image(mask: np.ndarray, to_crop: np.ndarray, shape: tuple[int, ...]) -> Mask:
    return cv2.warpAffine(mask.astype(np.float32), to_crop, (shape[1], shape[0]),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def without_glasses(source: SourceFace) -> SourceFace:
    """``source`` with its glasses taken off its pixels, so the warp never carries them onto a target;
    ``source`` itself when it wears none that can be seen.

    The frames found are painted in from the skin around them; what is left of fainter rims (nylon,
    light metal, reflections: thin lines lighter or darker than the skin) goes with a closing and an
    opening of the whole band the frames can lie in, which keep the skin's broad shading."""
    points = source.face.mesh
    if points is None:
        return source
    frames = frame_mask(source.image, points)
    if frames is None:
        return source
    grow = max(1, int(round(source.face.size * 0.006)))
    hole = cv2.dilate((frames > 0.2).astype(np.uint8) * 255, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    radius = max(3, int(round(source.face.size * 0.015)))
    painted = cv2.inpaint(source.image, hole, radius, cv2.INPAINT_TELEA)
    to_crop = _to_crop(points)
    scale = float(np.hypot(to_crop[0, 0], to_crop[0, 1]))  # crop pixels per image pixel
    size = max(3, int(round(9 / scale)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    smooth = cv2.morphologyEx(cv2.morphologyEx(painted, cv2.MORPH_CLOSE, kernel), cv2.MORPH_OPEN, kernel)
    band = cv2.GaussianBlur(lens_band(points, to_crop).astype(np.float32) / 255, (0, 0), 1.5)
    band = _to_image(band, to_crop, source.image.shape)[..., None]
    image = (painted * (1 - band) + smooth * band + 0.5).astype(np.uint8)
    return dataclasses.replace(source, image=image)

"""The soft mask that says which pixels of the target face are replaced."""
from __future__ import annotations

import cv2
import numpy as np

from ..analysis.topology import (
    CHIN,
    FACE_OVAL,
    FOREHEAD,
    IMAGE_LEFT_BROW,
    IMAGE_LEFT_EYE,
    IMAGE_RIGHT_BROW,
    IMAGE_RIGHT_EYE,
    NOSE,
    OUTER_LIPS,
)
from ..types import Mask, Points


def region_polygon(mesh: Points, region: str) -> np.ndarray:
    """Outline (N x 2) of the chosen face region, from mesh points in the same pixel space."""
    points = mesh[:, :2]
    if region == "face-oval":
        return points[list(FACE_OVAL)]
    brows = list(IMAGE_LEFT_BROW + IMAGE_RIGHT_BROW)
    if region == "inner-face":
        inner = brows + list(IMAGE_LEFT_EYE + IMAGE_RIGHT_EYE + NOSE + OUTER_LIPS)
        return cv2.convexHull(points[inner].astype(np.float32)).reshape(-1, 2)
    # brows-to-chin: the oval below the brows, closed over the brows, so the target keeps its own
    # forehead and hairline, where a pasted face shows its seams most.
    up = points[FOREHEAD] - points[CHIN]
    up /= np.linalg.norm(up) + 1e-6
    brow_level = float((points[brows] @ up).max())
    lower_oval = [i for i in FACE_OVAL if points[i] @ up < brow_level]
    return cv2.convexHull(points[lower_oval + brows].astype(np.float32)).reshape(-1, 2)


def apply_padding(polygon: np.ndarray, padding: list[int]) -> np.ndarray:
    """Pull the outline toward its centre: top, right, bottom, left in percent of the face."""
    top, right, bottom, left = (value / 100 for value in padding)
    centre = polygon.mean(axis=0)
    offset = polygon - centre
    scale_x = np.where(offset[:, 0] > 0, 1 - right, 1 - left)
    scale_y = np.where(offset[:, 1] > 0, 1 - bottom, 1 - top)
    return np.stack([centre[0] + offset[:, 0] * scale_x, centre[1] + offset[:, 1] * scale_y], axis=1)


def polygon_mask(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    return mask


def feather(hard: np.ndarray, face_size: float, blur: float) -> Mask:
    """Soften the edge inward: the mask reaches 1 a little inside the outline and falls off across it.

    Erosion and blur run on a grid a few times coarser than the image when the blur is wide (the
    result is smooth, so nothing is lost) and the mask is brought back to full size."""
    sigma = max(0.5, blur * 0.125 * face_size)
    factor = max(1, int(sigma // 3))
    height, width = hard.shape
    small = hard if factor == 1 else cv2.resize(hard, (max(1, width // factor), max(1, height // factor)),
                                                interpolation=cv2.INTER_AREA)
    inset = int(round(sigma * 1.5 / factor))
    if inset > 0:
        # A square kernel erodes in two cheap 1-D passes; the blur below rounds its corners.
        small = cv2.erode(small, np.ones((2 * inset + 1, 2 * inset + 1), np.uint8))
    soft = cv2.GaussianBlur(small.astype(np.float32) / 255.0, (0, 0), sigma / factor)
    if factor > 1:
        soft = cv2.resize(soft, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(soft, 0.0, 1.0)


def features_mask(points: Points, shape: tuple[int, int], lips: bool = True) -> np.ndarray:
    """Eyes, brows and (with ``lips``) lips: parts of the face that are not skin-coloured."""
    mask = np.zeros(shape, np.uint8)
    loops = (IMAGE_LEFT_EYE, IMAGE_RIGHT_EYE, IMAGE_LEFT_BROW, IMAGE_RIGHT_BROW) + ((OUTER_LIPS,) if lips else ())
    for loop in loops:
        hull = cv2.convexHull(points[list(loop), :2].astype(np.float32))
        cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 255)
    return cv2.dilate(mask, np.ones((5, 5), np.uint8))

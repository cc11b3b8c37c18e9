"""Piecewise-affine warp over the fixed mesh triangulation, done with one remap.

Each destination triangle is painted with its index into a label image; every pixel then looks up
its triangle's affine map back into the source and one ``cv2.remap`` samples the whole face. That is
far cheaper than a ``warpAffine`` per triangle and has no seams between triangles.
"""
from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from ..types import FrameBGR, Points

SUBPIXEL_SHIFT = 4


def triangle_affines(destination: Points, source: Points, triangles: npt.NDArray[np.int32]) -> np.ndarray:
    """T x 2 x 3 affine maps taking each destination triangle onto its source triangle.

    Solved in closed form (Cramer's rule) with plain array arithmetic: a batched ``linalg.solve``
    goes through BLAS/LAPACK, whose thread pool spins on tiny problems and costs far more here."""
    d = destination[triangles, :2].astype(np.float64)
    s = source[triangles, :2].astype(np.float64)
    x0, y0, x1, y1, x2, y2 = d[:, 0, 0], d[:, 0, 1], d[:, 1, 0], d[:, 1, 1], d[:, 2, 0], d[:, 2, 1]
    determinant = x0 * (y1 - y2) + x1 * (y2 - y0) + x2 * (y0 - y1)
    degenerate = np.abs(determinant) < 1e-6
    determinant[degenerate] = 1.0  # a triangle of no area paints no pixel: any map will do
    # Rows of the inverse of [[x0 y0 1], [x1 y1 1], [x2 y2 1]], as coefficients on the three corners.
    ax = np.stack([y1 - y2, y2 - y0, y0 - y1], axis=1) / determinant[:, None]
    ay = np.stack([x2 - x1, x0 - x2, x1 - x0], axis=1) / determinant[:, None]
    a1 = np.stack([x1 * y2 - x2 * y1, x2 * y0 - x0 * y2, x0 * y1 - x1 * y0], axis=1) / determinant[:, None]
    affines = np.empty((len(triangles), 2, 3), np.float64)
    for row in range(2):
        values = s[:, :, row]
        affines[:, row, 0] = (ax * values).sum(axis=1)
        affines[:, row, 1] = (ay * values).sum(axis=1)
        affines[:, row, 2] = (a1 * values).sum(axis=1)
    affines[degenerate] = 0.0
    return affines.astype(np.float32)


def rasterise(destination: Points, triangles: npt.NDArray[np.int32], shape: tuple[int, int]) -> np.ndarray:
    """Label image: 0 outside the mesh, i + 1 inside triangle i."""
    labels = np.zeros(shape, np.int32)
    # Corners gathered once for all triangles; the loop is then one call a triangle and nothing else.
    corners = np.round(destination[triangles, :2] * (1 << SUBPIXEL_SHIFT)).astype(np.int32)
    fill = cv2.fillConvexPoly
    for index, polygon in enumerate(corners, start=1):
        fill(labels, polygon, index, cv2.LINE_8, SUBPIXEL_SHIFT)
    return labels


BOUND_MARGIN = 1.0
"""Pixels a sample may fall outside its source triangle's box (a pixel on a triangle's edge)."""


def source_bounds(source: Points, triangles: npt.NDArray[np.int32]) -> np.ndarray:
    """T x 4 boxes (x1, y1, x2, y2) of the source triangles, widened by ``BOUND_MARGIN``."""
    corners = source[triangles, :2].astype(np.float32)
    return np.concatenate([corners.min(axis=1) - BOUND_MARGIN, corners.max(axis=1) + BOUND_MARGIN], axis=1)


def sampling_maps(labels: np.ndarray, affines: np.ndarray, select: np.ndarray | None = None,
                  bounds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel source coordinates for ``cv2.remap``; -1 where no (selected) triangle covers. With ``bounds``
    (see ``source_bounds``) each pixel's sample stays in its triangle's source box: a sliver of a triangle (a fold
    by a nostril in a video frame) has a near-singular map, and the one pixel the rasteriser paints for it just
    outside it sampled a point hundreds of pixels away (a white dot under the nose)."""
    covered = labels > 0 if select is None else np.concatenate([[False], select])[labels]
    map_x = np.full(labels.shape, -1, np.float32)
    map_y = np.full(labels.shape, -1, np.float32)
    # Only the box around the covered pixels is worked out (a few triangles, such as a mouth's, cover
    # a small part of the region).
    x, y, width, height = cv2.boundingRect(covered.astype(np.uint8))
    if width == 0 or height == 0:
        return map_x, map_y
    ys, xs = np.mgrid[y:y + height, x:x + width].astype(np.float32)
    table = np.concatenate([np.zeros((1, 2, 3), np.float32), affines.astype(np.float32)], axis=0)
    chosen = table[labels[y:y + height, x:x + width]]
    inside = covered[y:y + height, x:x + width]
    np.copyto(map_x[y:y + height, x:x + width], chosen[..., 0, 0] * xs + chosen[..., 0, 1] * ys + chosen[..., 0, 2],
              where=inside)
    np.copyto(map_y[y:y + height, x:x + width], chosen[..., 1, 0] * xs + chosen[..., 1, 1] * ys + chosen[..., 1, 2],
              where=inside)
    if bounds is not None:
        boxes = np.concatenate([np.zeros((1, 4), np.float32), bounds.astype(np.float32)])[labels[y:y + height, x:x + width]]
        for values, low, high in ((map_x, 0, 2), (map_y, 1, 3)):
            view = values[y:y + height, x:x + width]
            np.copyto(view, np.clip(view, boxes[..., low], boxes[..., high]), where=inside)
    return map_x, map_y


def warp_image(image: FrameBGR, maps: np.ndarray) -> FrameBGR:
    """Sample ``image`` at ``maps`` (H x W x 2 float32 source coordinates)."""
    return cv2.remap(image, maps, None, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

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
    """T x 2 x 3 affine maps taking each destination triangle onto its source triangle."""
    dst = np.concatenate([destination[triangles, :2], np.ones((len(triangles), 3, 1), np.float64)], axis=2)
    src = source[triangles, :2].astype(np.float64)
    determinant = np.linalg.det(dst)
    degenerate = np.abs(determinant) < 1e-6
    dst[degenerate] = np.eye(3)  # a triangle of no area paints no pixel: any map will do
    affines = np.linalg.solve(dst, src)  # (T,3,2): [x y 1] @ A = [x' y']
    return np.transpose(affines, (0, 2, 1)).astype(np.float32)


def rasterise(destination: Points, triangles: npt.NDArray[np.int32], shape: tuple[int, int]) -> np.ndarray:
    """Label image: 0 outside the mesh, i + 1 inside triangle i."""
    labels = np.zeros(shape, np.int32)
    fixed = np.round(destination[:, :2] * (1 << SUBPIXEL_SHIFT)).astype(np.int32)
    for index, triangle in enumerate(triangles):
        cv2.fillConvexPoly(labels, fixed[triangle], index + 1, lineType=cv2.LINE_8, shift=SUBPIXEL_SHIFT)
    return labels


def sampling_maps(labels: np.ndarray, affines: np.ndarray, select: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel source coordinates for ``cv2.remap``; -1 where no (selected) triangle covers."""
    height, width = labels.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    table = np.concatenate([np.full((1, 2, 3), 0, np.float32), affines], axis=0)
    if select is not None:
        table[1:][~select] = 0
    chosen = table[labels]
    map_x = chosen[..., 0, 0] * xs + chosen[..., 0, 1] * ys + chosen[..., 0, 2]
    map_y = chosen[..., 1, 0] * xs + chosen[..., 1, 1] * ys + chosen[..., 1, 2]
    uncovered = labels == 0 if select is None else ~np.concatenate([[False], select])[labels]
    map_x[uncovered] = -1
    map_y[uncovered] = -1
    return map_x, map_y


def full_size_maps(map_x: np.ndarray, map_y: np.ndarray, factor: int, shape: tuple[int, int]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Maps computed on a grid ``factor`` times coarser, brought to full size. A piecewise-affine warp
    is continuous, so linear interpolation of its coordinates is exact inside each triangle and off by
    a fraction of a pixel only along triangle edges; it costs a quarter (or less) of the full work."""
    if factor == 1:
        return map_x, map_y
    height, width = shape
    # Coarse pixel (i, j) stands for full pixel (i * factor, j * factor).
    scale = np.array([[factor, 0, 0], [0, factor, 0]], np.float32)
    big_x = cv2.warpAffine(map_x, scale, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    big_y = cv2.warpAffine(map_y, scale, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return big_x, big_y


def full_size_flags(flags: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """A coarse boolean image brought to full size (nearest neighbour), shrunk by one coarse pixel so
    it never claims the edge band where interpolated coordinates are unreliable."""
    if factor == 1:
        return flags
    inner = cv2.erode(flags.astype(np.uint8), np.ones((3, 3), np.uint8))
    scale = np.array([[factor, 0, 0], [0, factor, 0]], np.float32)
    return cv2.warpAffine(inner, scale, (shape[1], shape[0]), flags=cv2.INTER_NEAREST) > 0


def warp_image(image: FrameBGR, map_x: np.ndarray, map_y: np.ndarray) -> FrameBGR:
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

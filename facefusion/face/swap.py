"""The classical (landmark) face swap of the embedded engine.

For one target face: bend the target's mesh part-way toward the source's shape (``morph``), warp the
source face onto it through the fixed triangulation, give it the target's colour and shading, keep
the target's own open mouth, and blend it in under a feathered mask. Only a box around the face is
touched; the rest of the frame is never read or written.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..timing import Stopwatch, timed
from ..types import Face, FrameBGR, Mask, Points, SourceFace
from .blend import feather_blend, match_colour_and_light, multiband_blend, poisson_blend
from .mask import apply_padding, feather, mouth_open, polygon_mask, region_polygon
from .occlusion import skin_likeness
from .pose import similarity_align
from .topology import (IMAGE_LEFT_BROW, IMAGE_LEFT_EYE, IMAGE_RIGHT_BROW, IMAGE_RIGHT_EYE, INNER_LIPS, OUTER_LIPS,
                       mesh_topology)
from .warp import rasterise, sampling_maps, triangle_affines, warp_image

ROI_MARGIN = 0.2
"""Share of the face size added around the face's box for the working region."""


@dataclass(frozen=True)
class SwapSettings:
    morph: int = 80
    mask_region: str = "face-oval"
    mask_padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    mask_blur: float = 0.3
    blend_method: str = "multiband"


@lru_cache(maxsize=1)
def expression_weights() -> np.ndarray:
    """Per mesh point, how much ``morph`` may move it: 0 on lips and eyelids (their shape carries the
    target's expression), rising smoothly to 1 away from them."""
    topology = mesh_topology()
    weights = np.ones(468, np.float64)
    weights[list(INNER_LIPS + OUTER_LIPS + IMAGE_LEFT_EYE + IMAGE_RIGHT_EYE)] = 0.0
    neighbours: list[set[int]] = [set() for _ in range(468)]
    for a, b, c in topology.triangles:
        neighbours[a] |= {b, c}
        neighbours[b] |= {a, c}
        neighbours[c] |= {a, b}
    fixed = weights == 0
    for _ in range(3):
        smoothed = np.array([np.mean([weights[j] for j in neighbours[i]] + [weights[i]]) for i in range(468)])
        weights = np.where(fixed, 0.35, smoothed)
    return weights


def morphed_points(target: Points, source: Points, morph: int) -> Points:
    """Target points moved ``morph`` percent toward the source's shape seen in the target's pose."""
    if morph <= 0:
        return target[:, :2].copy()
    aligned = similarity_align(source.astype(np.float64), target.astype(np.float64))
    weights = expression_weights()[:, None] * (morph / 100.0)
    return (target[:, :2] + (aligned[:, :2] - target[:, :2]) * weights).astype(np.float32)


def working_region(points: Points, face_size: float, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    margin = ROI_MARGIN * face_size + 8
    x1 = int(max(0, np.floor(points[:, 0].min() - margin)))
    y1 = int(max(0, np.floor(points[:, 1].min() - margin)))
    x2 = int(min(frame_shape[1], np.ceil(points[:, 0].max() + margin)))
    y2 = int(min(frame_shape[0], np.ceil(points[:, 1].max() + margin)))
    return x1, y1, x2, y2


def swap_mask(destination: Points, shape: tuple[int, int], face_size: float, settings: SwapSettings
              ) -> tuple[Mask, np.ndarray]:
    """(soft mask, hard region) for the destination points in working-region coordinates."""
    polygon = apply_padding(region_polygon(destination, settings.mask_region), list(settings.mask_padding))
    hard = polygon_mask(polygon, shape)
    return feather(hard, face_size, settings.mask_blur), hard


def features_mask(points: Points, shape: tuple[int, int]) -> np.ndarray:
    """Eyes, brows and lips: parts of the face that are not skin-coloured."""
    mask = np.zeros(shape, np.uint8)
    for loop in (IMAGE_LEFT_EYE, IMAGE_RIGHT_EYE, OUTER_LIPS, IMAGE_LEFT_BROW, IMAGE_RIGHT_BROW):
        hull = cv2.convexHull(points[list(loop), :2].astype(np.float32))
        cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 255)
    return cv2.dilate(mask, np.ones((5, 5), np.uint8))


def swap_face(frame: FrameBGR, target: Face, source: SourceFace, settings: SwapSettings,
              stopwatch: Stopwatch | None = None) -> FrameBGR:
    """Swap ``source`` onto ``target`` in ``frame``, in place, and return the frame.

    A target without a mesh (the landmarker could not fit it) is left as it is."""
    if target.mesh is None or source.face.mesh is None:
        return frame
    topology = mesh_topology()
    face_size = target.size
    with timed(stopwatch, "warp"):
        destination = morphed_points(target.mesh, source.face.mesh, settings.morph)
        x1, y1, x2, y2 = working_region(destination, face_size, frame.shape)
        if x2 - x1 < 8 or y2 - y1 < 8:
            return frame
        scene = frame[y1:y2, x1:x2]
        shape = (y2 - y1, x2 - x1)
        offset = np.array([x1, y1], np.float32)
        local = destination - offset
        labels = rasterise(local, topology.triangles, shape)
        map_x, map_y = sampling_maps(labels, triangle_affines(local, source.face.mesh, topology.triangles))
        warped = warp_image(source.image, map_x, map_y)
        covered = labels > 0
        warped[~covered] = scene[~covered]

    with timed(stopwatch, "colour"):
        mask, hard = swap_mask(local, shape, face_size, settings)
        skin = skin_mask(warped, scene, local, hard, face_size)
        mask *= covered * skin
        warped = match_colour_and_light(warped, scene, np.where(skin > 0.5, hard, 0).astype(np.uint8), face_size)
        if mouth_open(target.mesh):
            warped = keep_own_mouth(warped, scene, labels, local, target.mesh[:, :2] - offset, face_size)

    with timed(stopwatch, "blend"):
        if settings.blend_method == "poisson":
            blended = poisson_blend(warped, scene, mask)
        elif settings.blend_method == "feather":
            blended = feather_blend(warped, scene, mask)
        else:
            blended = multiband_blend(warped, scene, mask, levels=int(np.log2(max(face_size, 16) / 8)))
        frame[y1:y2, x1:x2] = blended
    return frame


def skin_mask(warped: FrameBGR, scene: FrameBGR, points: Points, region: np.ndarray, face_size: float) -> Mask:
    """Soft 0..1 mask of where both the warped source and the scene show skin (see occlusion.py)."""
    shape = region.shape
    features = features_mask(points, shape)
    skin_sample = cv2.subtract(polygon_mask(region_polygon(points, "inner-face"), shape), features)
    check = cv2.subtract(region, features)
    likeness = np.minimum(skin_likeness(warped, skin_sample, check), skin_likeness(scene, skin_sample, check))
    return cv2.GaussianBlur(likeness, (0, 0), max(1.0, face_size * 0.01))


def keep_own_mouth(warped: FrameBGR, scene: FrameBGR, labels: np.ndarray, points: Points, target_points: Points,
                   face_size: float) -> FrameBGR:
    """Show the target's own teeth and tongue in the mouth opening, carried along with the morph."""
    topology = mesh_topology()
    to_target = triangle_affines(points, target_points, topology.triangles)
    mouth_x, mouth_y = sampling_maps(labels, to_target, select=topology.mouth_interior)
    inside_mouth = mouth_x >= 0
    if not inside_mouth.any():
        return warped
    own_mouth = warp_image(scene, mouth_x, mouth_y)
    alpha = cv2.GaussianBlur(inside_mouth.astype(np.float32), (0, 0), max(0.8, face_size * 0.006))
    return feather_blend(own_mouth, warped, np.clip(alpha * 1.6, 0, 1))

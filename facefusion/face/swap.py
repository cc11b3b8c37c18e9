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
from .mask import apply_padding, feather, polygon_mask, region_polygon
from .occlusion import skin_likeness
from .pose import similarity_align
from .topology import (IMAGE_LEFT_BROW, IMAGE_LEFT_EYE, IMAGE_RIGHT_BROW, IMAGE_RIGHT_EYE, INNER_LIPS, OUTER_LIPS,
                       mesh_topology, opening_ratio)
from .warp import full_size_flags, full_size_maps, rasterise, sampling_maps, triangle_affines, warp_image

SKIN_TEST_FACE_SIZE = 128
COARSE_MAPS_ABOVE = 160
"""Faces wider than this (px) get their warp maps computed at half resolution."""
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
        # Large faces get their warp maps on a coarser grid (see full_size_maps): same picture, less work.
        factor = 2 if face_size > COARSE_MAPS_ABOVE else 1
        coarse = local / factor
        coarse_shape = ((shape[0] + factor - 1) // factor, (shape[1] + factor - 1) // factor)
        labels = rasterise(coarse, topology.triangles, coarse_shape)
        map_x, map_y = sampling_maps(labels, triangle_affines(coarse, source.face.mesh, topology.triangles))
        map_x, map_y = full_size_maps(map_x, map_y, factor, shape)
        warped = warp_image(source.image, map_x, map_y)
        covered = full_size_flags(labels > 0, factor, shape)
        warped[~covered] = scene[~covered]

    with timed(stopwatch, "colour"):
        mask, hard = swap_mask(local, shape, face_size, settings)
        source_skin, scene_skin = skin_masks(warped, scene, local, hard, face_size)
        mask *= covered * np.minimum(source_skin, scene_skin)
        # Colour is measured on skin alone: lips, eyes and brows differ between people.
        bare = features_mask(local, shape) == 0
        warped = match_colour_and_light(warped, scene, (source_skin > 0.5) & bare, (scene_skin > 0.5) & bare,
                                        face_size)
        openings = own_openings(target.mesh, source.face.mesh)
        if openings.any():
            warped = keep_own_openings(warped, scene, labels, coarse, target.mesh[:, :2] - offset, openings,
                                       factor, face_size)

    with timed(stopwatch, "blend"):
        if settings.blend_method == "poisson":
            blended = poisson_blend(warped, scene, mask)
        elif settings.blend_method == "feather":
            blended = feather_blend(warped, scene, mask)
        else:
            blended = multiband_blend(warped, scene, mask, levels=int(np.log2(max(face_size, 16) / 8)))
        frame[y1:y2, x1:x2] = blended
    return frame


def skin_masks(warped: FrameBGR, scene: FrameBGR, points: Points, region: np.ndarray, face_size: float
               ) -> tuple[Mask, Mask]:
    """Soft 0..1 masks of where the warped source and the scene show skin in the face region (see
    occlusion.py); 0 outside the region."""
    full_shape = region.shape
    # Skin likeness is smooth once blurred: it is measured with the face about 128 px wide.
    scale = min(1.0, SKIN_TEST_FACE_SIZE / face_size)
    if scale < 1:
        size = (max(1, round(full_shape[1] * scale)), max(1, round(full_shape[0] * scale)))
        warped = cv2.resize(warped, size, interpolation=cv2.INTER_AREA)
        scene = cv2.resize(scene, size, interpolation=cv2.INTER_AREA)
        region = cv2.resize(region, size, interpolation=cv2.INTER_NEAREST)
        points = points * scale
        face_size = face_size * scale
    shape = region.shape
    features = features_mask(points, shape)
    skin_sample = cv2.subtract(polygon_mask(region_polygon(points, "inner-face"), shape), features)
    # The core of the face (eyes, nose, mouth and the skin between) carries the identity and is
    # rarely covered: only the rest is checked.
    core = polygon_mask(apply_padding(region_polygon(points, "inner-face"), [15, 15, 15, 15]), shape)
    check = cv2.subtract(cv2.subtract(region, features), core)
    inside = (region > 127).astype(np.float32)
    grow = max(1, int(round(face_size * 0.015)))
    kernel = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)
    masks = []
    for image in (warped, scene):
        likeness = skin_likeness(image, skin_sample, check) * inside
        # Grow what is not skin by a little: the fringes of a strand of hair are half skin, half hair.
        likeness = cv2.erode(likeness, kernel)
        likeness = cv2.GaussianBlur(likeness, (0, 0), max(1.0, face_size * 0.01))
        if scale < 1:
            likeness = cv2.resize(likeness, (full_shape[1], full_shape[0]), interpolation=cv2.INTER_LINEAR)
        masks.append(likeness)
    return masks[0], masks[1]


MOUTH_OPEN = 0.08
"""Inner-lip gap over mouth width above which the target's teeth or tongue show."""
EYE_NARROWER = 0.6
"""A target eye opened less than this share of the source's (a blink, a squint, a look down) keeps
its own lids and eye."""


def own_openings(target_mesh: Points, source_mesh: Points) -> np.ndarray:
    """Per triangle: where the target's own pixels replace the source's between lids and lips.

    The target's open mouth is always its own (the source's closed lips warped open would show a
    smear). Its eyes are its own only when clearly less open than the source's: a source's open eyes
    pasted over closed lids look wrong at once, while open eyes carry much of the identity."""
    topology = mesh_topology()
    selected = np.zeros(len(topology.triangles), dtype=bool)
    if opening_ratio(target_mesh, INNER_LIPS) > MOUTH_OPEN:
        selected |= topology.mouth
    for loop, triangles in ((IMAGE_LEFT_EYE, topology.left_eye), (IMAGE_RIGHT_EYE, topology.right_eye)):
        if opening_ratio(target_mesh, loop) < EYE_NARROWER * opening_ratio(source_mesh, loop):
            selected |= triangles
    return selected


def keep_own_openings(warped: FrameBGR, scene: FrameBGR, labels: np.ndarray, points: Points,
                      target_points: Points, openings: np.ndarray, factor: int, face_size: float) -> FrameBGR:
    """Show the target's own pixels in the chosen openings, carried along with the morph. ``labels``
    and ``points`` are on the grid ``factor`` times coarser than the images."""
    triangles = mesh_topology().triangles
    to_target = np.zeros((len(triangles), 2, 3), np.float32)
    to_target[openings] = triangle_affines(points, target_points, triangles[openings])
    own_x, own_y = sampling_maps(labels, to_target, select=openings)
    inside = full_size_flags(own_x >= 0, factor, warped.shape[:2])
    own_x, own_y = full_size_maps(own_x, own_y, factor, warped.shape[:2])
    if not inside.any():
        return warped
    # Only the box around the openings is touched.
    ys, xs = np.nonzero(inside)
    pad = int(face_size * 0.02) + 2
    y1, y2 = max(0, ys.min() - pad), min(inside.shape[0], ys.max() + pad + 1)
    x1, x2 = max(0, xs.min() - pad), min(inside.shape[1], xs.max() + pad + 1)
    own = warp_image(scene, own_x[y1:y2, x1:x2], own_y[y1:y2, x1:x2])
    alpha = cv2.GaussianBlur(inside[y1:y2, x1:x2].astype(np.float32), (0, 0), max(0.6, face_size * 0.004))
    warped[y1:y2, x1:x2] = feather_blend(own, warped[y1:y2, x1:x2], np.clip(alpha * 1.6, 0, 1))
    return warped

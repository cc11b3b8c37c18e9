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

from ..analysis.pose import head_angles, similarity_align
from ..analysis.topology import (
    CHIN,
    FOREHEAD,
    IMAGE_LEFT_EYE,
    IMAGE_RIGHT_EYE,
    INNER_LIPS,
    NOSE_TIP,
    OUTER_LIPS,
    mesh_topology,
    opening_ratio,
)
from ..timing import Stopwatch, timed
from ..types import Face, FrameBGR, Mask, Points, SourceFace
from .blend import coarse_levels, colour_transfer, feather_blend, keep_outside, matched_detail, poisson_blend
from .glasses import frame_mask
from .grid import WorkGrid, aligned_span, grid_factor
from .mask import apply_padding, feather, features_mask, polygon_mask, region_polygon
from .occlusion import skin_likeness
from .warp import rasterise, sampling_maps, source_bounds, triangle_affines, warp_image

ROI_MARGIN = 0.2
"""Share of the face size added around the face's box for the working region."""


TURN_LIMIT = 60.0
"""Degrees of yaw past which the embedded engine leaves a face alone. Its mesh warp draws the source's
frontal pixels over every triangle of the target's; turned further, the far half of the face is folded into
a sliver, and a source eye or cheek lands smeared on the near cheek (seen at 65° and on a profile in the
development photos; faces at 41-53° were drawn right). A neural swapper handles such faces as FaceFusion does."""
TURN_FADE = 10.0
"""Degrees before the limit over which the new face fades out, so that a head turning across the limit in a
video loses its swap gradually instead of at once."""


def turn_strength(target: Face) -> float:
    """How much of the swap a face gets for its turn: 1 up to ``TURN_FADE`` degrees before the limit, falling
    to 0 at ``TURN_LIMIT``."""
    if target.mesh is None:
        return 0.0
    yaw = abs(head_angles(target.mesh).yaw)
    return float(np.clip((TURN_LIMIT - yaw) / TURN_FADE, 0.0, 1.0))


@dataclass(frozen=True)
class SwapSettings:
    morph: int = 80
    mask_region: str = "face-oval"
    mask_padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    mask_blur: float = 0.3
    blend_method: str = "multiband"


EXPRESSION_FEATURES = (IMAGE_LEFT_EYE, IMAGE_RIGHT_EYE, INNER_LIPS + OUTER_LIPS)
"""The parts whose shape carries the expression: eyelids and lips."""
FEATURE_SHAPE_MOST = 0.85
FEATURE_SHAPE_LEAST = 0.35
"""How much of the source's own eye or lip shape ``morph`` brings: the most when the two faces open that
part alike (drawn in its own shape, a source's eye or mouth reads as theirs: bench/identity.py, 82 of the 90
development pairs read as the source against 80 with the least everywhere), the least when they differ by
``MOUTH_APART``/``EYES_APART`` or more (the target's open mouth, blink or squint is its expression)."""
MOUTH_APART = 0.15
"""Difference in lip opening (gap over width) at which the target's mouth keeps its own shape."""
EYES_APART = 0.4
"""Relative difference in eye opening at which the target's eye keeps its own shape."""


@lru_cache(maxsize=1)
def expression_weights() -> np.ndarray:
    """Per mesh point, 0 on lips and eyelids, rising smoothly to 1 a few points away from them: how far the
    points around a feature follow the feature's own weight (see ``shape_weights``) or the face's."""
    topology = mesh_topology()
    weights = np.ones(468, np.float64)
    fixed = np.zeros(468, dtype=bool)
    fixed[[index for loop in EXPRESSION_FEATURES for index in loop]] = True
    weights[fixed] = 0.0
    neighbours: list[set[int]] = [set() for _ in range(468)]
    for a, b, c in topology.triangles:
        neighbours[a] |= {b, c}
        neighbours[b] |= {a, c}
        neighbours[c] |= {a, b}
    for _ in range(3):
        smoothed = np.array([np.mean([weights[j] for j in neighbours[i]] + [weights[i]]) for i in range(468)])
        weights = np.where(fixed, 0.0, smoothed)
    return weights


EyeOpenings = tuple[tuple[float, float], tuple[float, float]]
"""(the target's, the source's) eye openings, image-left eye first."""


def mesh_eye_openings(target: Points, source: Points) -> EyeOpenings:
    """Eye openings read from the meshes alone (their lids follow a closed eye less well than the refined ones)."""
    return ((opening_ratio(target, IMAGE_LEFT_EYE), opening_ratio(target, IMAGE_RIGHT_EYE)),
            (opening_ratio(source, IMAGE_LEFT_EYE), opening_ratio(source, IMAGE_RIGHT_EYE)))


def eye_openings(target: Face, source: Face) -> EyeOpenings:
    """How open each face's eyes are: from the refined mesh where both faces have it (``Face.eyes_open``),
    else from their meshes."""
    if target.eyes_open is not None and source.eyes_open is not None:
        return target.eyes_open, source.eyes_open
    assert target.mesh is not None and source.mesh is not None
    return mesh_eye_openings(target.mesh, source.mesh)


def feature_shares(target: Points, source: Points, eyes: EyeOpenings | None = None) -> np.ndarray:
    """Per feature (image-left eye, image-right eye, lips): how much of the source's own shape it takes,
    from how alike the two faces open it (``eyes``: see ``eye_openings``; read from the meshes if not given)."""
    differences = []
    for own, theirs in zip(*(eyes or mesh_eye_openings(target, source))):
        differences.append(abs(own - theirs) / max(own, theirs, 1e-6) / EYES_APART)
    differences.append(abs(opening_ratio(target, INNER_LIPS) - opening_ratio(source, INNER_LIPS)) / MOUTH_APART)
    apart = np.clip(np.array(differences), 0.0, 1.0)
    return FEATURE_SHAPE_MOST - (FEATURE_SHAPE_MOST - FEATURE_SHAPE_LEAST) * apart


def shape_weights(target: Points, source: Points, eyes: EyeOpenings | None = None) -> np.ndarray:
    """Per mesh point, how much of the source's shape ``morph`` may bring: 1 on the face, each eye's and
    the lips' own share on them (``feature_shares``), blending between the two around them."""
    shares = feature_shares(target, source, eyes)
    centres = np.array([target[list(loop), :2].mean(axis=0) for loop in EXPRESSION_FEATURES])
    nearest = np.argmin(np.linalg.norm(target[None, :, :2] - centres[:, None, :], axis=2), axis=0)
    ramp = expression_weights()
    return ramp + (1.0 - ramp) * shares[nearest]


def morphed_points(target: Points, source: Points, morph: int, eyes: EyeOpenings | None = None) -> Points:
    """Target points moved ``morph`` percent toward the source's shape seen in the target's pose."""
    if morph <= 0:
        return target[:, :2].copy()
    aligned = similarity_align(source.astype(np.float64), target.astype(np.float64))
    weights = shape_weights(target, source, eyes)[:, None] * (morph / 100.0)
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


@dataclass(frozen=True)
class _Warp:
    """The source warped onto the target's mesh on the working grid, and where that grid sits in the frame."""

    x1: int
    y1: int
    scene: FrameBGR
    """The frame's region the face is drawn in (a view: drawing there changes the frame)."""
    grid: WorkGrid
    points: Points
    labels: np.ndarray
    maps: np.ndarray
    covered: np.ndarray
    scene_work: FrameBGR
    warped: FrameBGR


def _warp(frame: FrameBGR, target: Face, source: SourceFace, settings: SwapSettings, face_size: float
          ) -> _Warp | None:
    """The warp stage of ``swap_face``; None when the face's region is too small to draw in."""
    assert source.face.mesh is not None
    topology = mesh_topology()
    assert target.mesh is not None
    target_mesh = target.mesh
    destination = morphed_points(target_mesh, source.face.mesh, settings.morph, eye_openings(target, source.face))
    factor = grid_factor(face_size)
    x1, y1, x2, y2 = working_region(destination, face_size, frame.shape)
    x1, x2 = aligned_span(x1, x2, frame.shape[1], factor)
    y1, y2 = aligned_span(y1, y2, frame.shape[0], factor)
    if x2 - x1 < 8 * factor or y2 - y1 < 8 * factor:
        return None
    scene = frame[y1:y2, x1:x2]
    local = destination - np.array([x1, y1], np.float32)
    grid = WorkGrid((y2 - y1, x2 - x1), factor)
    work_points = grid.points(local)
    labels = rasterise(work_points, topology.triangles, grid.shape)
    maps = cv2.merge(sampling_maps(labels, triangle_affines(work_points, source.face.mesh, topology.triangles),
                                   bounds=source_bounds(source.face.mesh, topology.triangles)))
    # Interpolated coordinates are unreliable in the working pixel along the mesh's edge.
    covered = (labels > 0).astype(np.uint8)
    if not grid.is_full:
        covered = cv2.erode(covered, np.ones((3, 3), np.uint8))
    scene_work = grid.down(scene)
    warped_work = warp_image(source.image, maps)
    cv2.copyTo(scene_work, 1 - covered, warped_work)
    return _Warp(x1, y1, scene, grid, work_points, labels, maps, covered, scene_work, warped_work)


def swap_face(frame: FrameBGR, target: Face, source: SourceFace, settings: SwapSettings,
              stopwatch: Stopwatch | None = None) -> FrameBGR:
    """Swap ``source`` onto ``target`` in ``frame``, in place, and return the frame.

    Everything smooth is worked out on a working grid where the face is about 160 px wide (see
    grid.py): the warp's coordinates, masks, skin tests, colour statistics, shading and the blend's
    coarse levels. At full resolution, and only inside the box the mask covers, there are a remap of
    the source, the colour tables, a feather and a few enlargements, so a 600 px face costs little
    more than a 200 px one and keeps its full sharpness. A target without a mesh (the landmarker could
    not fit it) is left as it is."""
    strength = turn_strength(target)
    if target.mesh is None or source.face.mesh is None or strength <= 0.0:
        return frame
    face_size = target.size
    with timed(stopwatch, "warp"):
        warp = _warp(frame, target, source, settings, face_size)
        if warp is None:
            return frame
    x1, y1, scene, grid, work_points, labels, maps = (warp.x1, warp.y1, warp.scene, warp.grid, warp.points,
                                                      warp.labels, warp.maps)
    work_size, covered, scene_work, warped_work = face_size * grid.scale, warp.covered, warp.scene_work, warp.warped
    with timed(stopwatch, "colour"):
        mask_work, hard_work = swap_mask(work_points, grid.shape, work_size, settings)
        # Skin tests and colour statistics all read LAB: each image is converted once.
        warped_lab = cv2.cvtColor(warped_work, cv2.COLOR_BGR2LAB)
        scene_lab = cv2.cvtColor(scene_work, cv2.COLOR_BGR2LAB)
        source_skin, scene_skin = skin_masks(warped_lab, scene_lab, work_points, hard_work, work_size)
        # Where the source shows no skin at the face's edge (its hair over a cheek, the arm of its glasses), its
        # skin from around is carried in instead of cutting the mask there: a cut showed the target's cheek in a
        # line beside the new one, and kept the target's outline (bench/identity.py: 83 of the 90 development
        # pairs read as the source with the cut, 85 with the fill).
        warped_work, gaps, fill_work = fill_source_gaps(warped_work, warped_lab, work_points, hard_work,
                                                        covered * source_skin, work_size)
        warped_lab = cv2.cvtColor(warped_work, cv2.COLOR_BGR2LAB)
        mask_work *= covered * scene_skin
        # The target's own glasses stay in front of the new face, like a hand or a fringe.
        frames = frame_mask(scene_work, work_points)
        if frames is not None:
            mask_work *= 1.0 - frames
        box = grid.box_of(mask_work > 1e-3)
        if box is None:
            return frame
        bx1, by1, bx2, by2 = box
        scene_box = scene[by1:by2, bx1:bx2]
        warped = (warped_work[by1:by2, bx1:bx2].copy() if grid.is_full
                  else warp_image(source.image, grid.up_box(maps, box)))
        if not grid.is_full and gaps.max() > 1e-3:
            warped = feather_blend(np.ascontiguousarray(grid.up_box(fill_work, box)), warped,
                                   np.ascontiguousarray(grid.up_box(gaps, box), dtype=np.float32))
        warped = matched_detail(warped, scene_box, grid.up_box(np.minimum(source_skin, scene_skin), box) > 0.5)
        # Colour is measured on skin alone: lips, eyes and brows differ between people.
        bare = features_mask(work_points, grid.shape) == 0
        # The fill is skin too, and takes the target's shading with the rest (not counted in the colour
        # statistics: it is an average).
        transfer = colour_transfer(warped_lab, scene_lab, (source_skin > 0.5) & bare, (scene_skin > 0.5) & bare,
                                   work_size, shaded=(np.maximum(source_skin, gaps * covered) > 0.5) & bare)
        matched_work = warped_work if transfer is None else transfer.apply(warped_work, transfer.shading)
        # The colour change is smooth where it matters (skin), so it is worked out on the grid and added
        # to the full-resolution face as an enlarged difference: the source's fine detail is kept as it is.
        correction = cv2.subtract(matched_work, warped_work, dtype=cv2.CV_32F)
        openings = own_openings(target, source.face)
        if openings.any():
            target_local = target.mesh[:, :2] - np.array([x1 + bx1, y1 + by1], np.float32)
            alpha_work = keep_own_openings(warped, scene, labels, work_points, target_local, openings, grid, box,
                                           face_size)
            # The target's own pixels in the openings keep their colour; on the grid they are the scene's.
            correction *= (1.0 - alpha_work)[..., None]
            matched_work = feather_blend(scene_work, matched_work, alpha_work)
        mask = np.ascontiguousarray(grid.up_box(mask_work, box), dtype=np.float32)

    with timed(stopwatch, "blend"):
        blended = _blended(warped, scene_box, mask, correction, matched_work, scene_work, mask_work, grid, box,
                           work_size, settings.blend_method)
        if strength < 1.0:
            blended = cv2.addWeighted(blended, strength, scene_box, 1.0 - strength, 0.0)
        scene[by1:by2, bx1:bx2] = blended
    return frame


def _blended(warped: FrameBGR, scene_box: FrameBGR, mask: Mask, correction: np.ndarray, matched_work: FrameBGR,
             scene_work: FrameBGR, mask_work: Mask, grid: WorkGrid, box: tuple[int, int, int, int], work_size: float,
             method: str) -> FrameBGR:
    """The blend stage of ``swap_face``: the full-resolution face (``warped``) and its colour change
    (``correction``, on the grid) blended into ``scene_box`` under ``mask``."""
    if method == "poisson":
        coloured = cv2.add(warped, grid.up_box(correction, box), dtype=cv2.CV_8U)
        return poisson_blend(coloured, scene_box, mask)
    # feather(face + colour change) = feather(face) + mask x colour change; the multiband blend adds its coarse
    # levels (worked out on the grid) to that.
    smooth = correction * mask_work[..., None]
    if method != "feather":
        levels = int(np.log2(max(work_size, 16) / 8))
        smooth += coarse_levels(matched_work, scene_work, mask_work, levels)
    return keep_outside(cv2.add(feather_blend(warped, scene_box, mask), grid.up_box(smooth, box), dtype=cv2.CV_8U),
                        scene_box, mask)


SKIN_FILL_BLUR = 0.06
"""Blur (share of the face's size) over which the source's skin is averaged to fill its gaps."""


def fill_source_gaps(warped: FrameBGR, warped_lab: np.ndarray, points: Points, region: np.ndarray, skin: Mask,
                     face_size: float) -> tuple[FrameBGR, Mask, FrameBGR]:
    """(``warped`` with its gaps filled, the gaps (0..1), the fill): the gaps are where ``skin`` (the warped
    source's skin, see ``skin_masks``) is missing inside ``region``; the fill is the average of the bare skin
    near each pixel, hair and the like being left out of it wherever they lie (the core of the face too)."""
    gaps = (region > 127).astype(np.float32) * (1.0 - skin)
    if gaps.max() <= 1e-3:
        return warped, gaps, warped
    shape = (region.shape[0], region.shape[1])
    features = features_mask(points, shape)
    bare = skin_likeness(warped_lab, cv2.subtract(polygon_mask(region_polygon(points, "inner-face"), shape), features),
                         cv2.subtract(region, features))
    fill = skin_fill(warped, bare * skin, face_size)
    return feather_blend(fill, warped, gaps), gaps, fill


def skin_fill(image: FrameBGR, skin: Mask, face_size: float) -> FrameBGR:
    """``image`` with every pixel replaced by the average of the skin near it (weighted by ``skin``, 0..1)."""
    sigma = max(1.0, SKIN_FILL_BLUR * face_size)
    weight = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), sigma)
    total = cv2.GaussianBlur(image.astype(np.float32) * skin[..., None], (0, 0), sigma)
    filled = total / np.maximum(weight, 1e-4)[..., None]
    # Far from any skin the average is undefined; the image is kept there.
    far = (weight < 0.02)[..., None]
    return np.where(far, image, np.clip(filled, 0, 255)).astype(np.uint8)


def skin_masks(warped_lab: np.ndarray, scene_lab: np.ndarray, points: Points, region: np.ndarray, face_size: float
               ) -> tuple[Mask, Mask]:
    """Soft 0..1 masks of where the warped source and the scene (both in LAB) show skin in the face
    region (see occlusion.py); 0 outside the region. Everything is on the working grid already."""
    shape = (region.shape[0], region.shape[1])
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
    for image in (warped_lab, scene_lab):
        sample, checked = skin_sample, check
        if image is scene_lab:
            upper, lower = face_halves(points, shape, features)
            if covered_share(scene_lab, upper, lower) > COVERED_SHARE:
                # The target's nose and mouth are covered (a surgical mask, a hand): its skin is measured
                # around the eyes only, and everything below is checked, lips included, so what covers
                # the face stays in front of the new one.
                sample = upper
                checked = cv2.subtract(region, features_mask(points, shape, lips=False))
        likeness = skin_likeness(image, sample, checked) * inside
        # Grow what is not skin by a little: the fringes of a strand of hair are half skin, half hair.
        likeness = cv2.erode(likeness, kernel)
        masks.append(cv2.GaussianBlur(likeness, (0, 0), max(1.0, face_size * 0.01)))
    return masks[0], masks[1]


COVERED_SHARE = 0.75
"""Share of the lower inner face (nose tip to chin, lips included) unlike the skin around the eyes above
which the target's lower face counts as covered. On the development photos: a surgical mask 0.97;
uncovered faces, beards and open mouths included, 0.61 at most."""


def face_halves(points: Points, shape: tuple[int, int], features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(skin of the inner face above the nose tip, without eyes and brows; the inner face below it,
    lips included) as uint8 masks."""
    inner = polygon_mask(region_polygon(points, "inner-face"), shape)
    up = points[FOREHEAD, :2] - points[CHIN, :2]
    up = up / (np.linalg.norm(up) + 1e-6)
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    above = (columns * up[0] + rows * up[1]) > float(points[NOSE_TIP, :2] @ up)
    upper = np.where(above, cv2.subtract(inner, features), 0).astype(np.uint8)
    lower = np.where(above, 0, inner).astype(np.uint8)
    return upper, lower


def covered_share(scene_lab: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> float:
    """How much of the lower inner face (``scene_lab``: the scene in LAB) does not look like the skin
    around the eyes."""
    if np.count_nonzero(lower > 127) < 32 or np.count_nonzero(upper > 127) < 32:
        return 0.0
    likeness = skin_likeness(scene_lab, upper, lower)
    return float(np.mean(likeness[lower > 127] < 0.5))


MOUTH_OPEN = (0.06, 0.10)
"""Inner-lip gap over mouth width from which the target's own mouth starts to show (its teeth or tongue), and
at which it shows in full. A ramp, not a threshold: a talking mouth crosses any threshold back and forth, and
in a video its inside would pop between the source's and the target's from frame to frame."""
EYE_LID_MARGIN = 0.03
"""Lid kept around a target's own (closed) eye, as a share of the face's width."""
EYE_NARROWER = (0.7, 0.5)
"""Share of the source's eye opening below which a target eye (a blink, a squint, a look down) starts to show
its own lids and eye, and at which it shows them in full (a ramp, for the same reason as the mouth's)."""


def _ramp(value: float, start: float, full: float) -> float:
    """0 at ``start``, 1 at ``full`` (either way round), linear between."""
    return float(np.clip((value - start) / (full - start), 0.0, 1.0))


def own_openings(target: Face, source: Face) -> np.ndarray:
    """Per triangle, how much of the target's own pixels replace the source's between lids and lips (0..1).

    The target's open mouth is always its own (the source's closed lips warped open would show a
    smear). Its eyes are its own only when clearly less open than the source's: a source's open eyes
    pasted over closed lids look wrong at once, while open eyes carry much of the identity. Eye opening
    is read from the refined mesh where the faces have it (``Face.eyes_open``), else from the mesh."""
    assert target.mesh is not None and source.mesh is not None
    topology = mesh_topology()
    shares = np.zeros(len(topology.triangles), np.float32)
    shares[topology.mouth] = _ramp(opening_ratio(target.mesh, INNER_LIPS), *MOUTH_OPEN)
    target_eyes, source_eyes = eye_openings(target, source)
    for own, theirs, triangles in zip(target_eyes, source_eyes, (topology.left_eye, topology.right_eye)):
        shares[triangles] = _ramp(own / max(theirs, 1e-6), *EYE_NARROWER)
    return shares


def keep_own_openings(warped: FrameBGR, scene: FrameBGR, labels: np.ndarray, points: Points,
                      target_points: Points, openings: np.ndarray, grid: WorkGrid, box: tuple[int, int, int, int],
                      face_size: float) -> Mask:
    """Show the target's own pixels in the chosen openings, carried along with the morph (``warped``,
    the full-resolution ``box`` of the working region ``scene``, is changed in place). ``labels`` and
    ``points`` are on the working grid, ``target_points`` full-resolution points relative to the box.
    Returns how much of each working pixel is the target's own (0..1)."""
    triangles = mesh_topology().triangles
    to_target = np.zeros((len(triangles), 2, 3), np.float32)
    selected = openings > 0
    to_target[selected] = triangle_affines(points, target_points, triangles[selected])
    own_x, own_y = sampling_maps(labels, to_target, select=selected, bounds=source_bounds(target_points, triangles))
    inside = (own_x >= 0).astype(np.uint8)
    if not inside.any():
        return np.zeros(labels.shape, np.float32)
    # Around the openings the morph leaves the target's points where they are (lips and lids keep the
    # target's shape), so the target's own pixel there is the one at the same place: the maps are
    # filled with that, and the feathered edge never samples a wrong place.
    rows, columns = np.mgrid[0:labels.shape[0], 0:labels.shape[1]].astype(np.float32)
    outside = inside == 0
    own_x[outside] = ((columns + 0.5) * grid.factor - 0.5 - box[0])[outside]
    own_y[outside] = ((rows + 0.5) * grid.factor - 0.5 - box[1])[outside]
    if not grid.is_full:
        inside = cv2.erode(inside, np.ones((3, 3), np.uint8))
    topology = mesh_topology()
    shares = np.concatenate([[0.0], openings]).astype(np.float32)[labels]
    eyes = selected & (topology.left_eye | topology.right_eye)
    if eyes.any():
        # Closed eyes are told by the lash line and the lids around the eye's outline as much as by what
        # lies inside it: the target's own eye is kept with a margin of lid around it.
        eye_inside = np.concatenate([[False], eyes])[labels].astype(np.uint8)
        margin = max(1, int(round(face_size * grid.scale * EYE_LID_MARGIN)))
        kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
        inside = np.maximum(inside, cv2.dilate(eye_inside, kernel))
        shares = cv2.dilate(shares, kernel)
    sigma = max(0.6, face_size * grid.scale * 0.004)
    alpha_work = np.clip(cv2.GaussianBlur(inside.astype(np.float32), (0, 0), sigma) * 1.6, 0, 1)
    # Each opening's share (see own_openings), grown by a pixel so that the blur keeps it up to its edge.
    alpha_work *= cv2.GaussianBlur(cv2.dilate(shares, np.ones((3, 3), np.uint8)), (0, 0), sigma)
    # Only the part of the box around the openings is touched.
    alpha_work = alpha_work.astype(np.float32)
    near = grid.box_of(alpha_work > 1e-3)
    if near is None:
        return alpha_work
    nx1, ny1 = max(near[0], box[0]), max(near[1], box[1])
    nx2, ny2 = min(near[2], box[2]), min(near[3], box[3])
    if nx2 <= nx1 or ny2 <= ny1:
        return alpha_work
    region = (nx1, ny1, nx2, ny2)
    own = warp_image(scene[box[1]:box[3], box[0]:box[2]], cv2.merge([grid.up_box(own_x, region),
                                                                     grid.up_box(own_y, region)]))
    alpha = np.ascontiguousarray(grid.up_box(alpha_work, region))
    x1, y1, x2, y2 = nx1 - box[0], ny1 - box[1], nx2 - box[0], ny2 - box[1]
    warped[y1:y2, x1:x2] = feather_blend(own, warped[y1:y2, x1:x2], alpha)
    return alpha_work

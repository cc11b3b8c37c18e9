"""The embedded face editor: a face's features moved along its own Face Mesh, drawn with the mesh warp.

Each slider (-1..1, FaceFusion's face editor's names) moves some mesh points, in the face's own frame (x along the
eye line, y down the face, lengths in eye distances, so the same value does the same on a small or turned face),
and the move fades out over the skin around them; the face's outline never moves, so the warp meets the rest of the
picture without a seam. The picture is then warped so that what was at each point is at its moved place. Lips
opened wider than they were get a mouth's dark inside drawn between them; the gaze moves the eye's inside within
its lids. Head turns are not drawn: a 2-D warp of the face alone does not look like a turned head.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..analysis.topology import (
    FACE_OVAL,
    IMAGE_LEFT_BROW,
    IMAGE_LEFT_EYE,
    IMAGE_RIGHT_BROW,
    IMAGE_RIGHT_EYE,
    INNER_LIPS,
    LEFT_MOUTH_CORNER,
    LOWER_INNER_LIP,
    OUTER_LIPS,
    RIGHT_MOUTH_CORNER,
    UPPER_INNER_LIP,
    mesh_topology,
)
from ..types import FrameBGR, Points
from .mask import polygon_mask
from .warp import rasterise, sampling_maps, source_bounds, triangle_affines

EMBEDDED_SLIDERS = ("eyebrow_direction", "eye_gaze_horizontal", "eye_gaze_vertical", "eye_open_ratio",
                    "lip_open_ratio", "mouth_grim", "mouth_pout", "mouth_purse", "mouth_smile",
                    "mouth_position_horizontal", "mouth_position_vertical")
"""The sliders the embedded editor draws (the head's pitch, yaw and roll are LivePortrait's only)."""

LIPS = tuple(sorted(set(INNER_LIPS + OUTER_LIPS)))


@dataclass(frozen=True)
class FaceFrame:
    """The face's own axes: ``origin`` between the eyes, ``across`` along the eye line (image left to right),
    ``down`` perpendicular to it, ``unit`` the distance between the eyes' centres (pixels)."""

    origin: np.ndarray
    across: np.ndarray
    down: np.ndarray
    unit: float

    @staticmethod
    def of(mesh: Points) -> FaceFrame:
        left = mesh[list(IMAGE_LEFT_EYE), :2].mean(axis=0)
        right = mesh[list(IMAGE_RIGHT_EYE), :2].mean(axis=0)
        across = right - left
        unit = float(np.linalg.norm(across)) or 1.0
        across = across / unit
        return FaceFrame((left + right) / 2, across, np.array([-across[1], across[0]]), unit)

    def local(self, points: np.ndarray) -> np.ndarray:
        """Points in face units: (across, down)."""
        offset = points[..., :2] - self.origin
        return np.stack([offset @ self.across, offset @ self.down], axis=-1) / self.unit

    def to_pixels(self, moves: np.ndarray) -> np.ndarray:
        """Moves given in face units as pixel moves."""
        return (moves[..., :1] * self.across + moves[..., 1:2] * self.down) * self.unit


def _falloff(points: np.ndarray, centre: np.ndarray, reach: float) -> np.ndarray:
    """1 at ``centre``, fading with distance (a Gaussian of width ``reach``, face units)."""
    return np.exp(-np.sum((points - centre) ** 2, axis=-1) / (2 * reach ** 2))


def _lower_lip(local: np.ndarray) -> np.ndarray:
    """Per point: whether it belongs to the lower lip, chin and below (under the line between the lips)."""
    line = (local[UPPER_INNER_LIP, 1] + local[LOWER_INNER_LIP, 1]) / 2
    return local[:, 1] > line


def mouth_moves(local: np.ndarray, sliders: dict[str, float]) -> np.ndarray:
    """Moves (face units) of every mesh point for the mouth's sliders."""
    moves = np.zeros_like(local)
    centre = local[list(OUTER_LIPS)].mean(axis=0)
    smile, grim = sliders.get("mouth_smile", 0.0), sliders.get("mouth_grim", 0.0)
    for corner, side in ((LEFT_MOUTH_CORNER, -1.0), (RIGHT_MOUTH_CORNER, 1.0)):
        near = _falloff(local, local[corner], 0.22)[:, None]
        moves += near * np.array([0.08 * side * smile + 0.08 * side * grim, -0.2 * smile + 0.03 * grim])
    around = _falloff(local, centre, 0.32)[:, None]
    offset = local - centre
    pout, purse = sliders.get("mouth_pout", 0.0), sliders.get("mouth_purse", 0.0)
    # Pouted lips come forward: narrower and fuller; pursed ones are pressed narrow.
    moves += around * offset * np.array([-0.25 * pout - 0.4 * purse, 0.2 * pout - 0.1 * purse])
    moves += _falloff(local, centre, 0.4)[:, None] * np.array([0.12 * sliders.get("mouth_position_horizontal", 0.0),
                                                               0.08 * sliders.get("mouth_position_vertical", 0.0)])
    return moves + lip_opening_moves(local, sliders.get("lip_open_ratio", 0.0))


def lip_opening_moves(local: np.ndarray, value: float) -> np.ndarray:
    """The lower lip (and, less, the chin) dropped to open the lips, most in the middle of the mouth; the upper
    lip lifted a little. A negative value closes the lips toward each other."""
    moves = np.zeros_like(local)
    if value == 0:
        return moves
    width = abs(local[RIGHT_MOUTH_CORNER, 0] - local[LEFT_MOUTH_CORNER, 0]) or 0.8
    middle = (local[LEFT_MOUTH_CORNER] + local[RIGHT_MOUTH_CORNER]) / 2
    across = np.exp(-((local[:, 0] - middle[0]) / (0.45 * width)) ** 2)
    lower = _lower_lip(local)
    lip_bottom = local[list(OUTER_LIPS), 1].max()
    below = np.exp(-(np.maximum(local[:, 1] - lip_bottom, 0.0) / 0.3) ** 2)  # the chin follows less
    near = _falloff(local, middle, 0.5)
    gap = local[LOWER_INNER_LIP, 1] - local[UPPER_INNER_LIP, 1]
    drop = 0.22 * value if value > 0 else value * max(gap, 0.0)
    moves[:, 1] = np.where(lower, drop * across * below * near, 0.0)
    if value > 0:
        moves[:, 1] -= np.where(~lower, 0.04 * value * across * near, 0.0)
    return moves


def eye_moves(local: np.ndarray, sliders: dict[str, float]) -> np.ndarray:
    """Moves (face units) for the lids and the brows."""
    moves = np.zeros_like(local)
    opening, brow = sliders.get("eye_open_ratio", 0.0), sliders.get("eyebrow_direction", 0.0)
    for loop, brows in ((IMAGE_LEFT_EYE, IMAGE_LEFT_BROW), (IMAGE_RIGHT_EYE, IMAGE_RIGHT_BROW)):
        half = len(loop) // 2
        upper, lower = loop[1:half], loop[half + 1:][::-1]
        eye_centre = local[list(loop)].mean(axis=0)
        above = local[:, 1] < eye_centre[1]
        if opening:
            lid = local[list(upper)].mean(axis=0)
            gaps = np.maximum(local[list(lower), 1] - local[list(upper), 1], 0.0)  # each lid point's own
            # Opening lifts the upper lid; closing lowers it onto the lower one, which rises a little to meet it
            # (as in a blink), each point by its own gap so the lids meet along their length.
            shift = -0.06 * opening if opening > 0 else -0.8 * opening * float(gaps.mean())
            moves[:, 1] += np.where(above, shift * _falloff(local, lid, 0.12), 0.0)
            if opening > 0:
                moves[list(upper), 1] = shift
            else:
                moves[list(upper), 1] = -0.8 * opening * gaps
                moves[list(lower), 1] = 0.2 * opening * gaps
        if brow:
            brow_centre = local[list(brows)].mean(axis=0)
            moves[:, 1] += np.where(local[:, 1] < brow_centre[1] + 0.1,
                                    -0.1 * brow * _falloff(local, brow_centre, 0.2), 0.0)
    return moves


def edited_mesh(mesh: Points, sliders: dict[str, float]) -> Points:
    """The mesh with its points moved for the sliders (x, y in pixels; the outline kept)."""
    frame = FaceFrame.of(mesh)
    local = frame.local(mesh)
    moves = mouth_moves(local, sliders) + eye_moves(local, sliders)
    moves[list(FACE_OVAL)] = 0.0
    edited = mesh.astype(np.float32).copy()
    edited[:, :2] += frame.to_pixels(moves).astype(np.float32)
    return edited


def _region(points: np.ndarray, shape: tuple[int, ...], margin: float) -> tuple[int, int, int, int]:
    x1, y1 = np.floor(points[:, :2].min(axis=0) - margin).astype(int)
    x2, y2 = np.ceil(points[:, :2].max(axis=0) + margin).astype(int)
    return max(x1, 0), max(y1, 0), min(x2, shape[1]), min(y2, shape[0])


def warp_mesh(frame: FrameBGR, mesh: Points, edited: Points) -> FrameBGR:
    """The frame with what was at each mesh point drawn at its edited place (only inside the face)."""
    triangles = mesh_topology().triangles
    x1, y1, x2, y2 = _region(np.concatenate([mesh, edited]), frame.shape, 4)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return frame
    origin = np.array([x1, y1], np.float32)
    source, destination = mesh[:, :2] - origin, edited[:, :2] - origin
    labels = rasterise(destination, triangles, (y2 - y1, x2 - x1))
    map_x, map_y = sampling_maps(labels, triangle_affines(destination, source, triangles),
                                 bounds=source_bounds(source, triangles))
    scene = frame[y1:y2, x1:x2]
    warped = cv2.remap(scene, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    cv2.copyTo(warped, (labels > 0).astype(np.uint8), scene)
    return frame


def paint_mouth(frame: FrameBGR, original: FrameBGR, mesh: Points, edited: Points) -> FrameBGR:
    """Between lips opened wider than they were, a mouth's inside instead of what the warp stretched there: what
    was between the lips (teeth, tongue) at its own size, moved with the upper lip, and below it the dark of an
    open mouth, darker under the upper lip. ``original``: the frame before the warp."""
    unit = FaceFrame.of(mesh).unit
    before = float(np.linalg.norm(mesh[LOWER_INNER_LIP, :2] - mesh[UPPER_INNER_LIP, :2]))
    after = float(np.linalg.norm(edited[LOWER_INNER_LIP, :2] - edited[UPPER_INNER_LIP, :2]))
    if after <= before + 0.5:
        return frame
    loop = edited[list(INNER_LIPS), :2]
    x1, y1, x2, y2 = _region(loop, frame.shape, 3)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return frame
    corner = np.array([x1, y1], np.float32)
    shape = (y2 - y1, x2 - x1)
    blur = max(0.6, unit / 90)
    opening = cv2.GaussianBlur(polygon_mask(loop - corner, shape).astype(np.float32) / 255.0, (0, 0), blur)
    scene = frame[y1:y2, x1:x2].astype(np.float32)
    lips = polygon_mask(edited[list(OUTER_LIPS), :2] - corner, shape) > 0
    inner = opening > 0.5
    lip_colour = scene[lips & ~inner].mean(axis=0) if np.any(lips & ~inner) else np.array([60.0, 60.0, 120.0])
    shade = np.linspace(0.12, 0.3, y2 - y1, dtype=np.float32)[:, None, None]  # lit a little from below
    inside = np.broadcast_to(lip_colour[None, None, :] * shade, scene.shape).copy()
    # What was between the lips before (nothing when they were closed), where the upper lip has taken it.
    shift = edited[UPPER_INNER_LIP, :2] - mesh[UPPER_INNER_LIP, :2]
    moved = cv2.warpAffine(original, np.array([[1, 0, shift[0] - x1], [0, 1, shift[1] - y1]], np.float32),
                           (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    was_open = polygon_mask(mesh[list(INNER_LIPS), :2] + shift - corner, shape).astype(np.float32) / 255.0
    was_open = cv2.GaussianBlur(was_open, (0, 0), blur)[:, :, None]
    inside = moved.astype(np.float32) * was_open + inside * (1 - was_open)
    share = opening[:, :, None]
    frame[y1:y2, x1:x2] = np.clip(scene * (1 - share) + inside * share + 0.5, 0, 255).astype(np.uint8)
    return frame


def move_gaze(frame: FrameBGR, edited: Points, horizontal: float, vertical: float) -> FrameBGR:
    """The inside of each eye (iris and pupil) moved within its lids: a quarter of the eye's width across and its
    opening's height up or down at full slider, fading to nothing at the lids."""
    if not horizontal and not vertical:
        return frame
    face = FaceFrame.of(edited)
    for loop in (IMAGE_LEFT_EYE, IMAGE_RIGHT_EYE):
        points = edited[list(loop), :2]
        local = face.local(points)
        width = float(np.ptp(local[:, 0]))
        height = float(np.ptp(local[:, 1]))
        shift = face.to_pixels(np.array([0.25 * width * horizontal, 0.4 * height * vertical]))
        x1, y1, x2, y2 = _region(points, frame.shape, 2)
        if x2 - x1 < 3 or y2 - y1 < 3:
            continue
        hard = polygon_mask(points - np.array([x1, y1], np.float32), (y2 - y1, x2 - x1)).astype(np.uint8)
        # Inside the lid margins only: the lashes and liner stay where they are.
        margin = max(1, round(0.15 * height * face.unit))
        hard = cv2.erode(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1)))
        if not hard.any():
            continue
        depth = cv2.distanceTransform(hard, cv2.DIST_L2, 3)
        bump = (depth / max(float(depth.max()), 1e-6)).astype(np.float32)
        bump = np.sqrt(bump)  # the middle of the eye moves almost whole; only near the lids does it fade
        ys, xs = np.mgrid[0:y2 - y1, 0:x2 - x1].astype(np.float32)
        map_x = xs - shift[0] * bump
        map_y = ys - shift[1] * bump
        scene = frame[y1:y2, x1:x2]
        moved = cv2.remap(scene, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        cv2.copyTo(moved, hard, scene)
    return frame


EYES = (IMAGE_LEFT_EYE, IMAGE_RIGHT_EYE)


def eye_darkness(frame: FrameBGR, mesh: Points, loop: tuple[int, ...]) -> np.ndarray:
    """The eye's own darkest tenth (lashes, liner, pupil): the colour a closed lid's lash line takes."""
    x1, y1, x2, y2 = _region(mesh[list(loop)], frame.shape, 2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return np.zeros(3, np.float32)
    return np.percentile(frame[y1:y2, x1:x2].reshape(-1, 3), 10, axis=0).astype(np.float32)


def draw_lash_lines(frame: FrameBGR, edited: Points, colours: list[np.ndarray], closing: float) -> FrameBGR:
    """Along closed lids, the soft dark line of the lashes (the warp alone squeezes the eye's inside to a thin,
    straight seam), as dark as the lids were closed."""
    for loop, colour in zip(EYES, colours):
        lid = edited[list(loop[: len(loop) // 2 + 1]), :2]  # the upper lid, corner to corner, where it now lies
        width = float(np.linalg.norm(lid[-1] - lid[0]))
        x1, y1, x2, y2 = _region(lid, frame.shape, max(4.0, width / 4))
        if x2 - x1 < 4 or y2 - y1 < 4:
            continue
        layer = np.zeros((y2 - y1, x2 - x1), np.float32)
        points = np.round((lid - np.array([x1, y1], np.float32)) * 16).astype(np.int32)
        cv2.polylines(layer, [points], False, 1.0, max(1, round(width / 22)), cv2.LINE_AA, shift=4)
        share = cv2.GaussianBlur(layer, (0, 0), max(0.6, width / 60))[:, :, None] * min(abs(closing), 1.0) * 0.85
        scene = frame[y1:y2, x1:x2].astype(np.float32)
        frame[y1:y2, x1:x2] = np.clip(scene * (1 - share) + colour * share + 0.5, 0, 255).astype(np.uint8)
    return frame


def edit_face(frame: FrameBGR, mesh: Points, sliders: dict[str, float]) -> FrameBGR:
    """The frame with one face edited by the sliders (changed in place and returned)."""
    edited = edited_mesh(mesh, sliders)
    closing = min(sliders.get("eye_open_ratio", 0.0), 0.0)
    colours = [eye_darkness(frame, mesh, loop) for loop in EYES] if closing else []
    original = frame.copy() if sliders.get("lip_open_ratio", 0.0) > 0 else frame
    frame = warp_mesh(frame, mesh, edited)
    if closing:
        frame = draw_lash_lines(frame, edited, colours, closing)
    if original is not frame:
        frame = paint_mouth(frame, original, mesh, edited)
    return move_gaze(frame, edited, sliders.get("eye_gaze_horizontal", 0.0), sliders.get("eye_gaze_vertical", 0.0))

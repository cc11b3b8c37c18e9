"""The fixed topology of the 468-point Face Mesh: triangles and named regions.

The triangles are derived once from mediapipe's own tessellation edges (the 3-cliques of its edge
graph), so they never depend on where the points fall in an image: a per-image Delaunay triangulation
flips triangles on sub-pixel points and turned faces. The mesh has holes at the eyes and the mouth;
they are closed here with strips of our own so the warp covers them, and those strips are marked so
the target's own eyes (gaze, blinks) and open mouth can be shown there.
"""
from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from .mediapipe_loader import mediapipe

NOSE_TIP = 1
ALIGNMENT_NOSE = 4
"""The mesh point where the 5-point templates put the nose: the tip of the 68-point layout (point 30)
sits here; point 1, the lowest point of the tip, lies about 3.8 px lower in a 112 px ArcFace crop."""
CHIN = 152
FOREHEAD = 10
LEFT_MOUTH_CORNER = 61   # the person's right side, image left on a frontal face
RIGHT_MOUTH_CORNER = 291
UPPER_INNER_LIP = 13
LOWER_INNER_LIP = 14

# Closed loops, in order around each opening (well-known Face Mesh indices).
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
OUTER_LIPS = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
IMAGE_LEFT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
IMAGE_RIGHT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
IMAGE_LEFT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
IMAGE_RIGHT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
NOSE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 327, 48, 278, 64, 294, 129, 358)


@dataclass(frozen=True)
class MeshTopology:
    triangles: npt.NDArray[np.int32]
    """T x 3 vertex indices."""
    left_eye: npt.NDArray[np.bool_]
    right_eye: npt.NDArray[np.bool_]
    mouth: npt.NDArray[np.bool_]
    """Per triangle: True for the strips that close that opening."""


def _tessellation_edges() -> set[tuple[int, int]]:
    mediapipe()  # (without its plotting library)
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    return {(min(a, b), max(a, b)) for a, b in FACEMESH_TESSELATION}


def _fan(loop: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """Triangles closing a loop: a strip between its two halves (the loops are lid or lip shapes)."""
    half = len(loop) // 2
    upper = loop[: half + 1]
    lower = (loop[half:] + loop[:1])[::-1]
    triangles = []
    for i in range(half):
        triangles.append((upper[i], upper[i + 1], lower[i + 1]))
        triangles.append((upper[i], lower[i + 1], lower[i]))
    return [t for t in triangles if len(set(t)) == 3]


@lru_cache(maxsize=1)
def mesh_topology() -> MeshTopology:
    edges = _tessellation_edges()
    neighbours: dict[int, set[int]] = collections.defaultdict(set)
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    holes = [set(INNER_LIPS), set(IMAGE_LEFT_EYE), set(IMAGE_RIGHT_EYE)]
    cliques: set[tuple[int, ...]] = set()
    for a, b in edges:
        for c in neighbours[a] & neighbours[b]:
            triangle = tuple(sorted((a, b, c)))
            if not any(set(triangle) <= hole for hole in holes):
                cliques.add(triangle)
    parts: list[Sequence[tuple[int, ...]]] = [sorted(cliques), _fan(IMAGE_LEFT_EYE), _fan(IMAGE_RIGHT_EYE), _fan(INNER_LIPS)]
    triangles = np.array([triangle for part in parts for triangle in part], dtype=np.int32)
    flags = []
    start = 0
    for part in parts:
        flag = np.zeros(len(triangles), dtype=bool)
        flag[start:start + len(part)] = True
        flags.append(flag)
        start += len(part)
    return MeshTopology(triangles=triangles, left_eye=flags[1], right_eye=flags[2], mouth=flags[3])


def opening_ratio(mesh: np.ndarray, loop: tuple[int, ...]) -> float:
    """Gap between the two halves of an eye or lip loop, over its width: 0 closed, ~0.3 wide open."""
    points = mesh[list(loop), :2]
    half = len(loop) // 2
    width = float(np.linalg.norm(points[0] - points[half]))
    gap = float(np.linalg.norm(points[half // 2] - points[half + half // 2]))
    return float(gap / max(width, 1e-6))


def five_points_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """The usual 5 points (eye centres, nose tip, mouth corners), image-left eye first, placed where
    the neural models' alignment templates expect them."""
    return np.stack([
        mesh[list(IMAGE_LEFT_EYE), :2].mean(axis=0),
        mesh[list(IMAGE_RIGHT_EYE), :2].mean(axis=0),
        mesh[ALIGNMENT_NOSE, :2],
        mesh[LEFT_MOUTH_CORNER, :2],
        mesh[RIGHT_MOUTH_CORNER, :2],
    ]).astype(np.float32)

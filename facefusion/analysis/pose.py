"""Head pose and shape alignment from the 3-D Face Mesh points."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..types import Points
from .topology import CHIN, FACE_OVAL, FOREHEAD, IMAGE_LEFT_EYE, IMAGE_RIGHT_EYE, NOSE_TIP


def head_pose(mesh: Points) -> tuple[float, float]:
    """Approximate (yaw, pitch) in -1..1 from where the nose tip sits inside the face.

    0 is frontal; the sign says which way. Precise angles are not needed: the value only ranks
    source faces by how well their pose matches a target's.
    """
    left_eye = mesh[list(IMAGE_LEFT_EYE), :2].mean(axis=0)
    right_eye = mesh[list(IMAGE_RIGHT_EYE), :2].mean(axis=0)
    axis_x = right_eye - left_eye
    axis_x /= np.linalg.norm(axis_x) + 1e-6
    axis_y = np.array([-axis_x[1], axis_x[0]])
    local = (mesh[:, :2] - mesh[:, :2].mean(axis=0)) @ np.stack([axis_x, axis_y], axis=1)
    oval = local[list(FACE_OVAL)]
    left, right = oval[:, 0].min(), oval[:, 0].max()
    top, bottom = local[FOREHEAD, 1], local[CHIN, 1]
    yaw = (local[NOSE_TIP, 0] - (left + right) / 2) / max(right - left, 1e-6) * 2
    pitch = (local[NOSE_TIP, 1] - (top + bottom) / 2) / max(bottom - top, 1e-6) * 2
    return float(np.clip(yaw, -1, 1)), float(np.clip(pitch, -1, 1))


LEVEL_PITCH = 0.1
"""``head_pose``'s pitch of a face looking straight into the camera: the nose tip sits a little below the middle
between forehead and chin (0.05-0.14 on the development set's frontal photos)."""


@dataclass(frozen=True)
class HeadAngles:
    """A head's turn in degrees: ``yaw`` to the side (positive: the face looks toward the picture's right),
    ``pitch`` up and down (positive: looking down), ``roll`` the tilt of the eye line (positive: clockwise)."""

    yaw: float
    pitch: float
    roll: float


def head_angles(mesh: Points) -> HeadAngles:
    """Estimated angles of a head from its mesh.

    The nose tip stands out from the head about as far as the face is half wide, so seen from the front it
    moves sideways by half the face's width times the sine of the turn: ``head_pose``'s yaw is that sine (the
    same holds up and down). The mesh's own depth is flatter than a real head (a profile reads about 50°),
    so it is not used. On the development photos: frontal faces 2-14°, a 3/4 view 24°, faces turned about
    50° 41-53°, a near profile 90°."""
    yaw, pitch = head_pose(mesh)
    eye_line = mesh[list(IMAGE_RIGHT_EYE), :2].mean(axis=0) - mesh[list(IMAGE_LEFT_EYE), :2].mean(axis=0)
    return HeadAngles(yaw=math.degrees(math.asin(yaw)),
                      pitch=math.degrees(math.asin(float(np.clip(pitch - LEVEL_PITCH, -1, 1)))),
                      roll=math.degrees(math.atan2(float(eye_line[1]), float(eye_line[0]))))


def similarity_align(source: Points, target: Points, weights: np.ndarray | None = None) -> Points:
    """Source points moved onto target points by the best 3-D rotation, scale and translation
    (Umeyama), so a source shape can be compared with a target shape in the target's pose."""
    w = np.ones(len(source)) if weights is None else weights
    w = w / w.sum()
    mean_s = (source * w[:, None]).sum(axis=0)
    mean_t = (target * w[:, None]).sum(axis=0)
    s = source - mean_s
    t = target - mean_t
    covariance = (t * w[:, None]).T @ s
    u, singular, vt = np.linalg.svd(covariance)
    correction = np.eye(source.shape[1])
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        correction[-1, -1] = -1
    rotation = u @ correction @ vt
    variance = (w * (s ** 2).sum(axis=1)).sum()
    scale = np.trace(np.diag(singular) @ correction) / max(variance, 1e-9)
    return (scale * s @ rotation.T + mean_t).astype(np.float32)

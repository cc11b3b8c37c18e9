"""468-point Face Mesh landmarks, computed on a crop around each detected face.

Running the mesh on the whole frame would use its own short-range detector, which misses small and
far faces; a crop of twice the face's box, scaled to 256 px, gives every detected face its landmarks
(about 4 ms a face on 2 cores). The Face Mesh model is trained on upright faces, so the crop is turned
by the face's roll (the angle of its eye line) and the points are turned back: a head tilted by 60°
or a picture lying on its side is fitted like an upright face. Where the first fit fails, a larger
and a tighter crop are tried before the face is given up.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..types import BoundingBox, FrameBGR, Points
from .mediapipe_loader import mediapipe
from .topology import IMAGE_LEFT_EYE, IMAGE_RIGHT_EYE, five_points_from_mesh, opening_ratio

CROP_SCALE = 2.0
CROP_SIZE = 256
RETRY_SCALES = (2.8, 1.5)
"""Crop sizes (x the face's box) tried when the usual crop gives no mesh: more context, or less clutter."""
RETRY_TURNS = (180, 90, -90)
"""Turns (degrees) of the crop tried last, when the face's roll may have been read wrongly."""


_RECORD = 17
"""Bytes of one serialised landmark holding x, y, z: a 2-byte header, then three tagged floats."""
_TAGS = {0: 0x0A, 1: 0x0F, 2: 0x0D, 7: 0x15, 12: 0x1D}


def landmark_array(landmarks: object) -> np.ndarray:
    """N x 3 float32 from a mediapipe landmark list.

    Reading 468 protobuf messages attribute by attribute costs about a millisecond a face; their wire
    form is a fixed 17-byte record when only x, y, z are set, which numpy reads at once. Anything
    else falls back to the attribute loop."""
    raw = np.frombuffer(landmarks.SerializeToString(), np.uint8)  # type: ignore[attr-defined]
    if raw.size % _RECORD == 0:
        records = raw.reshape(-1, _RECORD)
        if all((records[:, column] == tag).all() for column, tag in _TAGS.items()):
            columns = np.concatenate([records[:, 3:7], records[:, 8:12], records[:, 13:17]], axis=1)
            return np.ascontiguousarray(columns).view("<f4").reshape(-1, 3).astype(np.float32)
    return np.array([[p.x, p.y, p.z] for p in landmarks.landmark], np.float32)  # type: ignore[attr-defined]


MESH_POINTS = 468
"""Points of the plain Face Mesh; the refined one adds ten iris points after them."""


def _face_mesh(following: bool, refined: bool = False) -> object:
    mp = mediapipe()
    return mp.solutions.face_mesh.FaceMesh(static_image_mode=not following, max_num_faces=1, refine_landmarks=refined,
                                           min_detection_confidence=0.3, min_tracking_confidence=0.5)


def eye_openings(points: Points) -> tuple[float, float]:
    """How open the face's two eyes are (image left, image right), from a mesh's lids."""
    return opening_ratio(points, IMAGE_LEFT_EYE), opening_ratio(points, IMAGE_RIGHT_EYE)


def _fit(model: object, frame: FrameBGR, bbox: BoundingBox, roll: float, crop_scale: float) -> Points | None:
    """Run ``model`` (a Face Mesh) on the upright crop around ``bbox``; its points in frame pixels."""
    matrix = crop_matrix(bbox, roll, crop_scale, CROP_SIZE)
    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
    crop = cv2.warpAffine(frame, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
    result = model.process(np.ascontiguousarray(crop[:, :, ::-1]))  # type: ignore[attr-defined]
    if not result.multi_face_landmarks:
        return None
    points = landmark_array(result.multi_face_landmarks[0]) * CROP_SIZE
    back = cv2.invertAffineTransform(matrix)
    xy = points[:, :2] @ back[:, :2].T + back[:, 2]
    points = np.concatenate([xy, points[:, 2:] / scale], axis=1).astype(np.float32)
    # In a crowd the mesh can lock onto a neighbour: keep it only if it sits on this face.
    mesh_centre = points[:, :2].mean(axis=0)
    if not (bbox[0] <= mesh_centre[0] <= bbox[2] and bbox[1] <= mesh_centre[1] <= bbox[3]):
        return None
    return points


class FaceLandmarker:
    """Owns one mediapipe Face Mesh for single pictures (each fit on its own); not thread-safe (one
    per worker)."""

    def __init__(self) -> None:
        self._mesh = _face_mesh(following=False)

    def close(self) -> None:
        self._mesh.close()  # type: ignore[attr-defined]

    def mesh(self, frame: FrameBGR, bbox: BoundingBox, roll: float = 0.0) -> Points | None:
        """468 x 3 points in frame pixels, or None when the mesh cannot be fitted to this face.
        ``roll``: the face's tilt in degrees (its eye line's angle in the picture, clockwise)."""
        # A detector that takes an upside-down or sideways face for an upright one gives a roll that is
        # off by a quarter or half turn: the turned crops are the last tries.
        tries = [(roll, CROP_SCALE), *((roll, scale) for scale in RETRY_SCALES),
                 *((roll + turn, CROP_SCALE) for turn in RETRY_TURNS)]
        for angle, crop_scale in tries:
            points = _fit(self._mesh, frame, bbox, angle, crop_scale)
            if points is not None:
                return points
        return None

    def fit_once(self, frame: FrameBGR, bbox: BoundingBox, roll: float = 0.0) -> Points | None:
        """One try with the usual crop."""
        return _fit(self._mesh, frame, bbox, roll, CROP_SCALE)


class EyeCheck:
    """How open a face's eyes are, from mediapipe's refined Face Mesh (attention model), whose lids
    follow the eye closely: on the development photos closed eyes read 0.07 to 0.12 there and open ones
    0.22 to 0.33, where the plain mesh gives 0.20 to 0.23 for the same closed eyes (its lids stay half
    open). Used for that reading only, so every mesh a swap draws with comes from one model."""

    def __init__(self) -> None:
        self._mesh = _face_mesh(following=False, refined=True)

    def openness(self, frame: FrameBGR, mesh: Points) -> tuple[float, float] | None:
        points = _fit(self._mesh, frame, mesh_box(mesh), roll_of_points(five_points_from_mesh(mesh)), CROP_SCALE)
        return None if points is None else eye_openings(points)

    def close(self) -> None:
        self._mesh.close()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FollowedMesh:
    mesh: Points
    eyes_open: tuple[float, float]
    """Read from the refined lids of this very frame (see ``MeshFollower``)."""


class MeshFollower:
    """A Face Mesh that follows one face from frame to frame (video tracking). Given the crop around
    where the face was, it starts from its last landmarks instead of looking for the face again, which
    halves the cost of a refit (measured: 6.4 ms against 12.1 ms a frame on 2 cores). It remembers the
    face, so each track has its own, and ``restart`` forgets (a resumed run starts each segment afresh).

    It is the refined mesh (with the attention model, as ``EyeCheck``): its lids follow every blink,
    where the plain mesh's stay half open (on the expressive development clip, eyes read closed, 0.02
    to 0.05, by the refined mesh were 0.28 to 0.33 on the plain one), and following with it costs about
    as much (measured: 2.7 against 2.5 ms a frame). So a video track knows on every frame whether the
    target's eyes are closed, without a second model."""

    def __init__(self) -> None:
        self._mesh = _face_mesh(following=True, refined=True)

    def fit(self, frame: FrameBGR, bbox: BoundingBox, roll: float = 0.0) -> FollowedMesh | None:
        points = _fit(self._mesh, frame, bbox, roll, CROP_SCALE)
        if points is None:
            return None
        return FollowedMesh(np.ascontiguousarray(points[:MESH_POINTS]), eye_openings(points))

    def restart(self) -> None:
        self._mesh.reset()  # type: ignore[attr-defined]

    def close(self) -> None:
        self._mesh.close()  # type: ignore[attr-defined]


def crop_matrix(bbox: BoundingBox, roll: float, crop_scale: float, size: int) -> np.ndarray:
    """2x3 map from the frame to a ``size`` square crop of ``crop_scale`` x the box, turned by ``roll``
    about the box's centre (so a face of that roll stands upright in the crop)."""
    centre_x, centre_y = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    side = max(bbox[2] - bbox[0], bbox[3] - bbox[1]) * crop_scale
    matrix = cv2.getRotationMatrix2D((float(centre_x), float(centre_y)), float(roll), float(size / max(side, 1e-6)))
    matrix[:, 2] += (size / 2 - centre_x, size / 2 - centre_y)
    return matrix


def upright_crop(frame: FrameBGR, bbox: BoundingBox, roll: float, crop_scale: float, size: int) -> FrameBGR:
    return cv2.warpAffine(frame, crop_matrix(bbox, roll, crop_scale, size), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)


def mesh_box(points: Points) -> BoundingBox:
    """A detector-like box around a mesh (the mesh hugs the face more tightly than a detector's box)."""
    x1, y1 = points[:, 0].min(), points[:, 1].min()
    x2, y2 = points[:, 0].max(), points[:, 1].max()
    pad_x, pad_y = (x2 - x1) * 0.05, (y2 - y1) * 0.05
    return np.array([x1 - pad_x, y1 - pad_y, x2 + pad_x, y2 + pad_y], np.float32)


def box_overlap(a: BoundingBox, b: BoundingBox) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    iy = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def roll_of(left_eye: np.ndarray, right_eye: np.ndarray, mouth: np.ndarray | None = None) -> float:
    """The tilt (degrees, clockwise in the picture) of a face: the angle of its eye line, or, given the
    mouth, the direction from between the eyes down to the mouth less 90°. The second reads an upside-
    down face correctly even when a detector has taken it for upright and swapped the eyes' labels."""
    if mouth is not None:
        down = np.asarray(mouth, np.float64) - (np.asarray(left_eye, np.float64) + right_eye) / 2
        if np.linalg.norm(down) > 1e-6:
            return float((np.degrees(np.arctan2(down[1], down[0])) - 90 + 180) % 360 - 180)
    dx, dy = float(right_eye[0] - left_eye[0]), float(right_eye[1] - left_eye[1])
    return float(np.degrees(np.arctan2(dy, dx))) if abs(dx) + abs(dy) > 1e-6 else 0.0


def roll_of_points(points: Points) -> float:
    """``roll_of`` for five points (eyes, nose, mouth corners) or BlazeFace's six (eyes, nose, mouth
    centre, ears)."""
    mouth = (points[3] + points[4]) / 2 if len(points) == 5 else points[3]
    return roll_of(points[0], points[1], mouth)

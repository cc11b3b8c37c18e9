"""Face detection with mediapipe's two BlazeFace models, plus a tiled pass for small faces.

The full-range model sees the frame shrunk to 192x192, so on a 720p frame a face under about 90 px is
lost; it also misses some clear close-ups. The short-range model (128x128, trained on faces within a
couple of metres) finds those close-ups (a frontal close-up the full-range model missed: 0.89), so
both run on the whole frame and their boxes are merged. The tiled pass runs the full-range model on
overlapping square tiles sized so that the smallest wanted face still covers enough of its input
(measured: 40 px faces are found on 720 px tiles, 3 tiles for a 1280x720 frame, about 4 ms each on
2 cores). In a group, the short-range model runs again on tiles a few faces wide (see ``_close_tiled``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..types import BoundingBox, FrameBGR, Points
from .mediapipe_loader import mediapipe

TILE_PER_MIN_FACE = 18
"""Tile side = this x the smallest wanted face (px): 40 px faces -> 720 px tiles."""
TILE_OVERLAP_FACES = 3
"""Neighbouring tiles share this many smallest-face widths; bigger faces are found on the whole frame."""
SMALL_FRAME_TILE = 0.6
"""Tiles of a frame under 1200 px: this share of its longer side."""
MODEL_FEED_SIZE = 384
"""A tile is shrunk to this side before it reaches the detector."""
CROWD = 4
"""Faces found in a frame from which a second tiled pass looks for the ones the first missed: a group. On the
development photos and clips it finds no face the first pass did not (none of them is a crowd), and no false
one; on grids of development faces it finds every one."""
CROWD_TILE = 0.75
"""Side of the crowd pass's tiles, as a share of the first pass's."""
CLOSE_TILE_FACES = 4.0
CLOSE_TILE_OVERLAP = 1.5
"""In a crowd, the close-range model's tiles are this many of the crowd's (median) face widths, and share
OVERLAP of them: tiles of 2.5 or 3 faces brought many false faces (hands, glasses), 5 found fewer."""
CLOSE_TILE_SCORE = 0.6
CLOSE_TILE_LARGEST = 1.6
"""A face from the close-range tiles is kept from this score (above the usual 0.5: many small windows give a
false face more chances) and up to LARGEST times the crowd's face width."""
DUPLICATE_OVERLAP = 0.3
"""Two boxes are one face when their intersection covers this share of the smaller box."""
SPANNED_SHARE = 0.5
SPANNED_SIZE = 0.4
"""A smaller box with SHARE of itself inside a larger one, and at least SIZE of its width, may be one of two faces
the larger one spans (a smaller box could be a part of the face: an eye)."""


@dataclass(frozen=True)
class Detection:
    bbox: BoundingBox
    score: float
    keypoints: Points
    """The detector's own points (BlazeFace: image-left eye, image-right eye, nose tip, mouth centre,
    two ear points)."""
    landmarks_5: Points | None = None
    """Eyes, nose tip and mouth corners, from detectors that give them (the neural ones)."""


class FaceDetector:
    """Owns one mediapipe detector; not thread-safe (one per worker)."""

    def __init__(self, score_threshold: float = 0.5, min_face_size: int = 40, whole_frame: bool = False) -> None:
        """``whole_frame``: only the two passes over the whole frame, no tiles (live pictures: faces near the
        camera, and a frame must be done in milliseconds; the tiles cost 130 of 150 ms on a 480x480 frame)."""
        mp = mediapipe()

        self.score_threshold = score_threshold
        self.min_face_size = min_face_size
        self.whole_frame = whole_frame
        # The model's own threshold sits a little lower so a face split across tiles still merges.
        confidence = max(0.05, score_threshold - 0.1)
        self._detector = mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                                   min_detection_confidence=confidence)
        self._close_range = mp.solutions.face_detection.FaceDetection(model_selection=0,
                                                                      min_detection_confidence=confidence)

    def close(self) -> None:
        self._detector.close()
        self._close_range.close()

    @property
    def smallest_kept(self) -> float:
        """The smallest box side (px) a detection may have to be kept."""
        return self.min_face_size * 0.75

    def detect(self, frame: FrameBGR) -> list[Detection]:
        height, width = frame.shape[:2]
        if min(height, width) < self.smallest_kept:
            return []  # no face it keeps fits (a 1 x 60000 strip was 800 tiles and 14 s to learn that)
        tile = int(max(192, self.min_face_size * TILE_PER_MIN_FACE))
        # The model sees 192x192 anyway: shrinking the frame once, so that a tile is MODEL_FEED_SIZE
        # pixels, saves every run a large copy into the graph.
        scale = min(1.0, MODEL_FEED_SIZE / min(tile, max(width, height)))
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if scale < 1:
            rgb = cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                             interpolation=cv2.INTER_LINEAR)
        small_h, small_w = rgb.shape[:2]
        overview = rgb
        if max(small_w, small_h) > MODEL_FEED_SIZE:
            shrink = MODEL_FEED_SIZE / max(small_w, small_h)
            overview = cv2.resize(rgb, (max(1, round(small_w * shrink)), max(1, round(small_h * shrink))),
                                  interpolation=cv2.INTER_AREA)
        found = self._run(overview, 0, 0, small_w, small_h, 1 / scale)
        found.extend(self._run(overview, 0, 0, small_w, small_h, 1 / scale, self._close_range))
        # A frame under two tiles is tiled finer, with tiles of SMALL_FRAME_TILE of its longer side: there
        # the full-range model loses faces (one of six 100 px faces at 1152 px, two at 640 px) that a tile
        # shows it. The whole-frame passes stay as they are.
        tile = int(max(192, min(tile, SMALL_FRAME_TILE * max(width, height))))
        if self.whole_frame:
            tile = max(width, height)
        overlap = int(round(self.min_face_size * TILE_OVERLAP_FACES * scale))
        if tile < max(width, height):
            found.extend(self._tiled(rgb, int(round(tile * scale)), overlap, 1 / scale))
        merged = merge_detections(found)
        if tile < max(width, height) and len(merged) >= CROWD:
            # A crowd: the model misses a face here and there depending on where it falls in a tile (two of a
            # 6 x 8 grid of 110 px faces, different ones when the grid moves by 30 px). Tiles of another size
            # put every face somewhere else in its tile.
            found.extend(self._tiled(rgb, int(round(tile * CROWD_TILE * scale)), overlap, 1 / scale))
            found.extend(self._close_tiled(rgb, merge_detections(found), scale))
            merged = merge_detections(found)
        return [d for d in merged if d.score >= self.score_threshold
                and max(d.bbox[2] - d.bbox[0], d.bbox[3] - d.bbox[1]) >= self.smallest_kept]

    def _tiled(self, rgb: np.ndarray, tile: int, overlap: int, to_frame: float) -> list[Detection]:
        height, width = rgb.shape[:2]
        found: list[Detection] = []
        for x, y, w, h in tile_grid(width, height, max(tile, overlap + 1), overlap):
            found.extend(self._run(rgb[y:y + h, x:x + w], x, y, w, h, to_frame))
        return found

    def _close_tiled(self, rgb: np.ndarray, crowd: list[Detection], scale: float) -> list[Detection]:
        """The close-range model on tiles a few of the crowd's faces wide: it finds faces looking down, turned
        or laughing that the full-range model misses at any tile size (on a collage of the group photo and three
        audience frames of the multi-face clip at 1280x720, 17 of its 18 faces instead of 14, the two women
        looking down at their cards among them). Its boxes much larger than the crowd's faces, or less sure, are
        dropped: at 1.5 times the size three false faces (a hand, a glass) scored 0.55-0.58."""
        widths = sorted(float(d.bbox[2] - d.bbox[0]) for d in crowd)
        face = widths[len(widths) // 2]
        side = max(1, int(round(face * scale * CLOSE_TILE_FACES)))
        height, width = rgb.shape[:2]
        found: list[Detection] = []
        for x, y, w, h in tile_grid(width, height, side, int(round(face * scale * CLOSE_TILE_OVERLAP))):
            found.extend(d for d in self._run(rgb[y:y + h, x:x + w], x, y, w, h, 1 / scale, self._close_range)
                         if d.score >= CLOSE_TILE_SCORE and d.bbox[2] - d.bbox[0] <= CLOSE_TILE_LARGEST * face)
        return found

    def _run(self, region: np.ndarray, x: int, y: int, w: int, h: int, to_frame: float,
             model: Any = None) -> list[Detection]:
        """Detect in ``region``, which shows the (w x h) area at (x, y) of the shrunk frame."""
        result = (model or self._detector).process(np.ascontiguousarray(region))
        detections = []
        for item in result.detections or []:
            box = item.location_data.relative_bounding_box
            bbox = np.array([box.xmin * w + x, box.ymin * h + y,
                             (box.xmin + box.width) * w + x, (box.ymin + box.height) * h + y], np.float32)
            keypoints = np.array([[p.x * w + x, p.y * h + y]
                                  for p in item.location_data.relative_keypoints], np.float32)
            detections.append(Detection(bbox=bbox * to_frame, score=float(item.score[0]),
                                        keypoints=keypoints * to_frame))
        return detections


class OrientationCheck:
    """Scores how much a crop looks like an upright face, with mediapipe's short-range BlazeFace (about
    6 ms a run on 2 cores: the cheaper of the two models, and at home on a crop that a face fills)."""

    def __init__(self) -> None:
        mp = mediapipe()

        self._model = mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.05)

    def upright_score(self, crop: FrameBGR) -> float:
        result = self._model.process(np.ascontiguousarray(crop[:, :, ::-1]))
        return max((float(item.score[0]) for item in result.detections or []), default=0.0)

    def close(self) -> None:
        self._model.close()


def _turned_back(points: np.ndarray, turns: int, width: int, height: int) -> np.ndarray:
    """Points of the picture turned ``turns`` quarter turns anticlockwise (np.rot90), in the picture's
    own coordinates (``width`` x ``height``)."""
    points = points.astype(np.float32).copy()
    sizes = [(width, height)]
    for _ in range(turns % 4):
        sizes.append((sizes[-1][1], sizes[-1][0]))
    for turn in range(turns % 4, 0, -1):
        before_width = sizes[turn - 1][0]
        # One anticlockwise turn takes (x, y) to (y, before_width - x); undo it.
        x, y = points[..., 0].copy(), points[..., 1].copy()
        points[..., 0], points[..., 1] = before_width - y, x
    return points


def detect_turned(detector: object, frame: FrameBGR, angle: int) -> list[Detection]:
    """Detect on the frame turned clockwise by ``angle`` (a multiple of 90°); boxes and points are
    mapped back to the frame as it is (a turned face keeps its points in the face's own order)."""
    turns = (-angle // 90) % 4
    turned = np.ascontiguousarray(np.rot90(frame, k=turns))
    height, width = frame.shape[:2]
    found = []
    for detection in detector.detect(turned):  # type: ignore[attr-defined]
        x1, y1, x2, y2 = detection.bbox
        corners = _turned_back(np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]), turns, width, height)
        bbox = np.concatenate([corners.min(axis=0), corners.max(axis=0)]).astype(np.float32)
        landmarks_5 = None if detection.landmarks_5 is None else _turned_back(detection.landmarks_5, turns, width, height)
        found.append(Detection(bbox=bbox, score=detection.score, landmarks_5=landmarks_5,
                               keypoints=_turned_back(detection.keypoints, turns, width, height)))
    return found


def _spread(length: int, side: int, overlap: int) -> list[int]:
    """Evenly spaced starts of windows of ``side`` covering ``length`` with at least ``overlap``."""
    if side >= length:
        return [0]
    count = int(np.ceil((length - overlap) / max(side - overlap, 1)))
    return [round(i * (length - side) / (count - 1)) for i in range(count)] if count > 1 else [0]


def tile_grid(width: int, height: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Square tiles (x, y, w, h) covering the frame, each pair of neighbours sharing at least
    ``overlap`` pixels, so a face up to that size lies whole inside some tile (larger faces are the
    whole-frame pass's job)."""
    side_w, side_h = min(tile, width), min(tile, height)
    return [(x, y, side_w, side_h) for y in _spread(height, side_h, overlap) for x in _spread(width, side_w, overlap)]


def overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(ix * iy / smaller) if smaller > 0 else 0.0


def _spans_two_faces(box: np.ndarray, detections: list[Detection]) -> bool:
    """Whether two other boxes that are not one face lie mostly inside ``box``: the close-range model gives one
    box, with a high score, over two faces cheek to cheek (the Obamas side by side in the multi-face clip: a
    box 0.88 over both, which then hid the two boxes of 0.67 and 0.79 that were right)."""
    inside = [d.bbox for d in detections if d.bbox is not box and overlap_of_smaller(d.bbox, box) >= SPANNED_SHARE
              and SPANNED_SIZE * (box[2] - box[0]) <= (d.bbox[2] - d.bbox[0]) < (box[2] - box[0])]
    return any(overlap_of_smaller(a, b) < DUPLICATE_OVERLAP for i, a in enumerate(inside) for b in inside[i + 1:])


def merge_detections(detections: list[Detection]) -> list[Detection]:
    """Keep the best of each group of boxes that cover the same face (a tile edge can cut a face:
    the larger, better box wins because boxes are taken by score weighted with size), after dropping boxes
    that span two faces."""
    detections = [d for d in detections if not _spans_two_faces(d.bbox, detections)]
    ranked = sorted(detections, key=lambda d: d.score * np.sqrt(max(d.bbox[2] - d.bbox[0], 1.0)), reverse=True)
    kept: list[Detection] = []
    for detection in ranked:
        if all(overlap_of_smaller(detection.bbox, other.bbox) < DUPLICATE_OVERLAP for other in kept):
            kept.append(detection)
    return kept

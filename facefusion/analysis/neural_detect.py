"""Neural face detectors (ONNX): the SCRFD/RetinaFace layout and the YOLOv8-face layout.

Both see the frame fitted into a square canvas (top-left, zero padding) and give boxes with five
points (eyes, nose tip, mouth corners), which is what the neural swappers align on. The layout is read
from the file's outputs, so a user's own detector of either shape works too:

- SCRFD / RetinaFace: 9 outputs, scores, box distances and point offsets for strides 8, 16 and 32;
  anchors sit at (column, row) x stride, a few per cell; input ``(x - 127.5) / 128``.
- YOLOv8-face: one 1 x 20 x N output, rows ``cx, cy, w, h, score`` then ``(x, y, visibility)`` x 5;
  input ``x / 255`` at 640 x 640.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from ..errors import InvalidInputError
from ..inference.catalogue import DETECTOR
from ..inference.runtime import SessionPool
from ..types import FrameBGR
from .detect import Detection

Layout = Literal["scrfd", "yolo"]
STRIDES = (8, 16, 32)
NMS_OVERLAP = 0.4
"""Boxes overlapping more than this (intersection over union) are one face."""
YOLO_SIZE = 640
DETECTOR_INPUT = DETECTOR.inputs[0].name


def decode_scrfd(outputs: list[np.ndarray], size: int, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (N x 4), scores (N), five points (N x 5 x 2) in canvas pixels from the 9 outputs."""
    boxes, scores, points = [], [], []
    for index, stride in enumerate(STRIDES):
        cells = size // stride
        level_scores = outputs[index].reshape(-1)
        per_cell = max(1, round(level_scores.size / (cells * cells)))
        keep = np.flatnonzero(level_scores >= threshold)
        if not keep.size:
            continue
        rows, columns = np.divmod(keep // per_cell, cells)
        centres = np.stack([columns, rows], axis=1).astype(np.float32) * stride
        distances = outputs[index + 3].reshape(-1, 4)[keep] * stride
        offsets = outputs[index + 6].reshape(-1, 5, 2)[keep] * stride
        boxes.append(np.concatenate([centres - distances[:, :2], centres + distances[:, 2:]], axis=1))
        scores.append(level_scores[keep])
        points.append(centres[:, None, :] + offsets)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(points)


def decode_yolo(output: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes, scores and five points in canvas pixels from the 1 x 20 x N output."""
    rows = output.reshape(output.shape[-2], -1).T
    rows = rows[rows[:, 4] >= threshold]
    centre, half = rows[:, 0:2], rows[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    points = rows[:, 5:20].reshape(-1, 5, 3)[:, :, :2]
    return boxes.astype(np.float32), rows[:, 4].astype(np.float32), points.astype(np.float32)


@dataclass
class NeuralDetector:
    """One ONNX detector; thread-safe (the session is shared, nothing else is kept between frames)."""

    path: Path
    pool: SessionPool = field(default_factory=SessionPool)
    size: int = 640
    """Side of the square canvas for models whose input size is free (SCRFD/RetinaFace exports)."""
    score_threshold: float = 0.5
    min_face_size: int = 40

    def __post_init__(self) -> None:
        # Opening the file now refuses one of the wrong shape before any frame, not mid-video.
        self.layout = self._layout()
        self.canvas_size = self._canvas_size()

    def _layout(self) -> Layout:
        outputs = self.pool.session(self.path).get_outputs()
        if len(outputs) == 9:
            return "scrfd"
        if len(outputs) == 1 and len(outputs[0].shape) == 3 and outputs[0].shape[1] == 20:
            return "yolo"
        raise InvalidInputError(
            f"--face-detector-model: {self.path.name} does not fit: a detector needs 9 outputs (SCRFD/RetinaFace: "
            f"scores, boxes, points for strides 8/16/32) or one 1x20xN output (YOLOv8-face); it has "
            f"{[list(item.shape) for item in outputs]}")

    def _canvas_size(self) -> int:
        """The file's own input side when it fixes one, else the chosen size (YOLO: 640)."""
        declared = next(item.shape for item in self.pool.session(self.path).get_inputs()
                        if item.name == DETECTOR_INPUT)[2:]
        if all(isinstance(value, int) and value > 0 for value in declared):
            return int(declared[0])
        return YOLO_SIZE if self.layout == "yolo" else self.size

    def close(self) -> None:
        """Sessions belong to the pool; nothing to release here."""

    def detect(self, frame: FrameBGR) -> list[Detection]:
        size = self.canvas_size
        height, width = frame.shape[:2]
        scale = min(size / height, size / width)
        fitted = cv2.resize(frame, (max(1, min(size, round(width * scale))), max(1, min(size, round(height * scale)))),
                            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        canvas = np.zeros((size, size, 3), np.float32)
        canvas[:fitted.shape[0], :fitted.shape[1]] = fitted
        # Both layouts keep OpenCV's BGR channel order, as the published exports expect.
        canvas = (canvas - 127.5) / 128.0 if self.layout == "scrfd" else canvas / 255.0
        session = self.pool.batched(self.path)
        outputs = session.run({DETECTOR_INPUT: np.ascontiguousarray(canvas.transpose(2, 0, 1)[None])})
        if self.layout == "scrfd":
            boxes, scores, points = decode_scrfd(outputs, size, self.score_threshold)
        else:
            boxes, scores, points = decode_yolo(outputs[0], self.score_threshold)
        boxes, points = boxes / scale, points / scale
        kept = cv2.dnn.NMSBoxes([[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes],
                                scores.tolist(), self.score_threshold, NMS_OVERLAP)
        detections = []
        for index in np.array(kept).reshape(-1):
            box = boxes[index]
            if max(box[2] - box[0], box[3] - box[1]) < self.min_face_size * 0.75:
                continue
            detections.append(Detection(bbox=box.astype(np.float32), score=float(scores[index]),
                                        keypoints=points[index].astype(np.float32),
                                        landmarks_5=points[index].astype(np.float32)))
        return sorted(detections, key=lambda detection: -detection.score)

"""frame -> [Face]: detection, landmarks and, on request, identity."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..timing import Stopwatch, timed
from ..types import Face, FrameBGR
from .detect import FaceDetector
from .landmarks import FaceLandmarker
from .recognise import EMBEDDER_NAME, FaceRecogniser
from .topology import five_points_from_mesh


class FaceAnalyser:
    """Owns the embedded engine's models for one worker. Models load on first use."""

    def __init__(self, score_threshold: float = 0.5, min_face_size: int = 40,
                 stopwatch: Stopwatch | None = None) -> None:
        self.stopwatch = stopwatch
        self.score_threshold = score_threshold
        self.min_face_size = min_face_size
        self._detector: FaceDetector | None = None
        self._landmarker: FaceLandmarker | None = None
        self._recogniser: FaceRecogniser | None = None

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = FaceDetector(self.score_threshold, self.min_face_size)
        return self._detector

    @property
    def landmarker(self) -> FaceLandmarker:
        if self._landmarker is None:
            self._landmarker = FaceLandmarker()
        return self._landmarker

    @property
    def recogniser(self) -> FaceRecogniser:
        if self._recogniser is None:
            self._recogniser = FaceRecogniser()
        return self._recogniser

    def warm_up(self) -> None:
        """Load every model now (so timings and first requests do not pay for it)."""
        blank = np.zeros((64, 64, 3), np.uint8)
        self.detector.detect(blank)
        self.landmarker.mesh(blank, np.array([0, 0, 64, 64], np.float32))
        _ = self.recogniser

    def analyse(self, frame: FrameBGR) -> list[Face]:
        """Every face in the frame with box, score, 5 points and, where it fits, the 468-point mesh."""
        faces = []
        with timed(self.stopwatch, "detect"):
            detections = self.detector.detect(frame)
        for detection in detections:
            with timed(self.stopwatch, "landmarks"):
                mesh = self.landmarker.mesh(frame, detection.bbox)
            if mesh is not None:
                landmarks_5 = five_points_from_mesh(mesh)
            else:
                keypoints = detection.keypoints
                # BlazeFace has no mouth corners: spread its mouth centre by half the eye distance.
                half = (keypoints[1] - keypoints[0]) / 2 * 0.8
                landmarks_5 = np.stack([keypoints[0], keypoints[1], keypoints[2],
                                        keypoints[3] - half, keypoints[3] + half]).astype(np.float32)
            faces.append(Face(bbox=detection.bbox, score=detection.score, landmarks_5=landmarks_5, mesh=mesh))
        return faces

    def embed(self, frame: FrameBGR, face: Face) -> Face:
        """The same face with its identity descriptor filled in."""
        if face.embedding is not None:
            return face
        with timed(self.stopwatch, "embed"):
            embedding = self.recogniser.embed(frame, face.bbox)
        return dataclasses.replace(face, embedding=embedding, embedder=EMBEDDER_NAME)

    def close(self) -> None:
        for model in (self._detector, self._landmarker):
            if model is not None:
                model.close()
        self._detector = self._landmarker = self._recogniser = None

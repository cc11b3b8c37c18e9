"""frame -> [Face]: detection, landmarks and, on request, identity."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from ..inference.runtime import SessionPool, execution_settings
from ..timing import Stopwatch, timed
from ..types import Face, FrameBGR
from .analysis_models import (Detector, DetectorChoice, MergedDetector, RecogniserChoice, choose_detector,
                              choose_recogniser)
from .detect import FaceDetector
from .landmarks import FaceLandmarker
from .memo import Memo, frame_digest
from .recognise import ArcFaceRecogniser, FaceRecogniser
from .topology import five_points_from_mesh

if TYPE_CHECKING:
    from ..options import Options


def analyser_for(options: "Options", stopwatch: Stopwatch | None = None,
                 pool: SessionPool | None = None, memo_frames: int = 0) -> "FaceAnalyser":
    """The analyser the options ask for (detector model and size, thresholds, execution providers)."""
    return FaceAnalyser(options.face_detector_score, options.face_detector_min_size, stopwatch,
                        choose_detector(options.face_detector_model, options.face_detector_size),
                        pool or SessionPool(execution_settings(options)),
                        choose_recogniser(options.face_recogniser_model), memo_frames)


class FaceAnalyser:
    """Owns the analysis models for one worker. Models load on first use."""

    def __init__(self, score_threshold: float = 0.5, min_face_size: int = 40,
                 stopwatch: Stopwatch | None = None, detector_choice: DetectorChoice | None = None,
                 pool: SessionPool | None = None, recogniser_choice: RecogniserChoice | None = None,
                 memo_frames: int = 0) -> None:
        """``memo_frames``: remember the analysis of this many recent frames (and the identities of
        their faces), for callers that look at the same pictures again and again (the web UI's
        preview re-runs on every option change); 0 for video runs, where no frame comes twice."""
        self.stopwatch = stopwatch
        self.score_threshold = score_threshold
        self.min_face_size = min_face_size
        self.detector_choice = detector_choice or DetectorChoice()
        self.recogniser_choice = recogniser_choice or RecogniserChoice()
        self.pool = pool or SessionPool()
        self._detector: Detector | None = None
        self._landmarker: FaceLandmarker | None = None
        self._recogniser: FaceRecogniser | ArcFaceRecogniser | None = None
        self._faces_memo = Memo(memo_frames) if memo_frames else None
        self._identity_memo = Memo(memo_frames * 8) if memo_frames else None

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            from .neural_detect import NeuralDetector

            choice = self.detector_choice
            detectors: list[Detector] = [NeuralDetector(path, self.pool, choice.size, self.score_threshold,
                                                        self.min_face_size) for path in choice.files]
            if choice.embedded:
                detectors.insert(0, FaceDetector(self.score_threshold, self.min_face_size))
            self._detector = detectors[0] if len(detectors) == 1 else MergedDetector(detectors)
        return self._detector

    @property
    def landmarker(self) -> FaceLandmarker:
        if self._landmarker is None:
            self._landmarker = FaceLandmarker()
        return self._landmarker

    @property
    def recogniser(self) -> FaceRecogniser | ArcFaceRecogniser:
        if self._recogniser is None:
            file = self.recogniser_choice.file
            self._recogniser = FaceRecogniser() if file is None else ArcFaceRecogniser(file, self.pool)
        return self._recogniser

    def warm_up(self) -> None:
        """Load every model now (so timings and first requests do not pay for it)."""
        blank = np.zeros((64, 64, 3), np.uint8)
        self.detector.detect(blank)
        self.landmarker.mesh(blank, np.array([0, 0, 64, 64], np.float32))
        _ = self.recogniser

    def analyse(self, frame: FrameBGR) -> list[Face]:
        """Every face in the frame with box, score, 5 points and, where it fits, the 468-point mesh."""
        if self._faces_memo is None:
            return self._analyse(frame)
        key = frame_digest(frame)
        remembered = self._faces_memo.get(key)
        if remembered is None:
            remembered = self._analyse(frame)
            self._faces_memo.put(key, remembered)
        return list(remembered)  # type: ignore[call-overload]

    def _analyse(self, frame: FrameBGR) -> list[Face]:
        faces = []
        with timed(self.stopwatch, "detect"):
            detections = self.detector.detect(frame)
        for detection in detections:
            with timed(self.stopwatch, "landmarks"):
                mesh = self.landmarker.mesh(frame, detection.bbox)
            if detection.landmarks_5 is not None:
                # A neural detector's own five points are what the neural models were aligned with in
                # training; the mesh's estimate of them sits a little off (tracking keeps the offset).
                landmarks_5 = detection.landmarks_5
            elif mesh is not None:
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
        key = None
        if self._identity_memo is not None:
            key = (frame_digest(frame), face.bbox.round(1).tobytes())
            remembered = self._identity_memo.get(key)
            if remembered is not None:
                return dataclasses.replace(face, embedding=remembered, embedder=self.recogniser.name)
        with timed(self.stopwatch, "embed"):
            embedding = self.recogniser.embed(frame, face)
        if key is not None and self._identity_memo is not None:
            self._identity_memo.put(key, embedding)
        return dataclasses.replace(face, embedding=embedding, embedder=self.recogniser.name)

    def close(self) -> None:
        for model in (self._detector, self._landmarker):
            if model is not None:
                model.close()
        self._detector = self._landmarker = self._recogniser = None

"""frame -> [Face]: detection, landmarks and, on request, identity."""
from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..inference.runtime import SessionPool, execution_settings
from ..timing import Stopwatch, timed
from ..types import Face, FrameBGR
from .detect import Detection, FaceDetector, merge_detections
from .landmarks import FaceLandmarker
from .recognise import ArcFaceRecogniser, FaceRecogniser
from .topology import five_points_from_mesh

if TYPE_CHECKING:
    from ..options import Options


EMBEDDED_DETECTOR = "mediapipe BlazeFace (embedded)"


class Detector(Protocol):
    def detect(self, frame: FrameBGR) -> list[Detection]: ...

    def close(self) -> None: ...


@dataclass
class DetectorChoice:
    """Which detectors to run: the embedded one and/or neural model files."""

    embedded: bool = True
    files: tuple[Path, ...] = ()
    description: str = EMBEDDED_DETECTOR
    size: int = 640


def choose_detector(choice: str = "mediapipe", size: int = 640, folder: Path | None = None) -> DetectorChoice:
    """``mediapipe``; a neural model name; ``auto`` (the first neural detector present, else the embedded
    one); ``many`` (every detector present, merged); or the path of the user's own .onnx file."""
    from ..inference.catalogue import DETECTOR, DETECTOR_ALIASES, find
    from ..inference.download import models_dir, require
    from ..inference.resolve import resolve_model

    folder = folder or models_dir()
    if choice == "mediapipe":
        return DetectorChoice()
    if choice.lower().endswith(".onnx"):
        resolved = resolve_model(choice, "detector", "--face-detector-model", DETECTOR, folder)
        return DetectorChoice(False, (resolved.path,), f"face detector: {resolved.description}", size)
    present = [name for name in DETECTOR_ALIASES if (folder / find(name).file).is_file()]
    if choice == "auto":
        if not present:
            return DetectorChoice(description=f"face detector: {EMBEDDED_DETECTOR}, no neural detector in {folder}")
        choice = present[0]
    if choice == "many":
        files = tuple(folder / find(name).file for name in present)
        return DetectorChoice(True, files, "face detector: many (" + ", ".join(["mediapipe", *present]) + ")", size)
    entry = find(choice)
    licence = f"{entry.licence}{', NON-COMMERCIAL' if entry.non_commercial else ''}"
    return DetectorChoice(False, (require(entry, folder),), f"face detector: {choice} ({licence})", size)


@dataclass
class RecogniserChoice:
    """The embedded dlib recogniser (``file`` None) or an ArcFace-shaped model file."""

    file: Path | None = None
    description: str = "identity: dlib ResNet (embedded)"


def choose_recogniser(choice: str = "dlib", folder: Path | None = None) -> RecogniserChoice:
    """``dlib``; ``arcface_w600k_r50``; ``auto`` (ArcFace when its file is present, else dlib); or the
    path of the user's own .onnx file with ArcFace's contract."""
    from ..inference.catalogue import ARCFACE, find
    from ..inference.download import models_dir
    from ..inference.resolve import resolve_model

    folder = folder or models_dir()
    if choice == "dlib":
        return RecogniserChoice()
    if choice == "auto":
        if not (folder / find("arcface_w600k_r50").file).is_file():
            return RecogniserChoice(description=f"identity: dlib ResNet (embedded), no arcface_w600k_r50 in {folder}")
        choice = "arcface_w600k_r50"
    resolved = resolve_model(choice, "recogniser", "--face-recogniser-model", ARCFACE, folder)
    return RecogniserChoice(resolved.path, f"identity: {resolved.description}")


class MergedDetector:
    """Several detectors on the same frame; a face found by more than one is kept once."""

    def __init__(self, detectors: list[Detector]) -> None:
        self.detectors = detectors

    def detect(self, frame: FrameBGR) -> list[Detection]:
        return merge_detections([found for detector in self.detectors for found in detector.detect(frame)])

    def close(self) -> None:
        for detector in self.detectors:
            detector.close()


def analyser_for(options: "Options", stopwatch: Stopwatch | None = None,
                 pool: SessionPool | None = None, memo_frames: int = 0) -> "FaceAnalyser":
    """The analyser the options ask for (detector model and size, thresholds, execution providers)."""
    return FaceAnalyser(options.face_detector_score, options.face_detector_min_size, stopwatch,
                        choose_detector(options.face_detector_model, options.face_detector_size),
                        pool or SessionPool(execution_settings(options)),
                        choose_recogniser(options.face_recogniser_model), memo_frames)


def frame_digest(frame: FrameBGR) -> bytes:
    """A short fingerprint of a frame's pixels (about 5 ms for 1080p): the key of remembered analyses."""
    digest = hashlib.blake2b(memoryview(np.ascontiguousarray(frame)).cast("B"), digest_size=16)
    digest.update(str(frame.shape).encode())
    return digest.digest()


class Memo:
    """The last few results by key (least recently used goes first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[object, object] = OrderedDict()

    def get(self, key: object) -> object | None:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, key: object, value: object) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


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
            for detector in detectors:  # a file of the wrong shape is refused now, not mid-video
                getattr(detector, "layout", None)
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
            if mesh is not None:
                # The mesh's points, even where the detector has its own: a video's faces keep one
                # source of points between full detections (tracked frames only refit the mesh).
                landmarks_5 = five_points_from_mesh(mesh)
            elif detection.landmarks_5 is not None:
                landmarks_5 = detection.landmarks_5
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

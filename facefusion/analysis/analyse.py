"""frame -> [Face]: detection, landmarks and, on request, identity."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from ..inference.runtime import SessionPool, execution_settings
from ..timing import Stopwatch, timed
from ..types import Embedding, Face, FrameBGR, Points
from .detect import DUPLICATE_OVERLAP, Detection, FaceDetector, OrientationCheck, detect_turned, overlap_of_smaller
from .landmarks import (
    EyeCheck,
    FaceLandmarker,
    FollowedMesh,
    box_overlap,
    eye_openings,
    mesh_box,
    roll_of_points,
    upright_crop,
)
from .memo import Memo, frame_digest
from .models import Detector, DetectorChoice, MergedDetector, RecogniserChoice, choose_detector, choose_recogniser
from .recognise import ArcFaceRecogniser, FaceRecogniser
from .topology import five_points_from_mesh

if TYPE_CHECKING:
    from ..options import Options


DEFAULT_ANGLES = (0, 90, 270, 180)
"""Upright first, then lying on either side, then upside down."""


def upright_turn(roll: float) -> int:
    """The clockwise quarter turn of the picture that brings a face of this roll nearest to upright
    (0 for faces within 45° of upright)."""
    return int(-round(roll / 90.0) * 90) % 360


ORIENTATION_CROP_SCALE = 2.0
ORIENTATION_CROP_SIZE = 128
ORIENTATION_MARGIN = 0.05
"""How much better the detector must score a face turned over for its mesh to be fitted again turned."""
DOUBTFUL_SCORE = 0.7
"""BlazeFace scores below which a detection must also hold up as a face (every face of the development
photos scores 0.71 or more)."""
KEYPOINT_AGREEMENT = 0.05
"""Mean distance (share of the box's width) between the detector's eyes and nose and the mesh's within
which a weak detection is a face. Development photos: 0.04 at most below a score of 0.8; background
patches 0.057-0.36."""
DOUBTFUL_UPRIGHT = 0.7
DOUBTFUL_CROP_SCALE = 1.6
"""The face check's score (short-range BlazeFace on the detection's box enlarged DOUBTFUL_CROP_SCALE
times, turned upright) a weak detection whose points disagree must still reach. Measured: the background
patches 0.62 at most; every face of the development photos 0.81 or more."""
CLEARLY_OPEN = 0.27
"""Eye opening on the plain mesh above which an eye is open for sure (no refined reading needed)."""
SAME_MESH_OVERLAP = 0.2
"""Meshes whose boxes overlap more than this (IoU) sit on one face; faces side by side, even cheek to
cheek, overlap far less."""
TRUST_BOX_OVERLAP = 0.5
"""Below this overlap (IoU) with its mesh, a detector's box is replaced by the mesh's (BlazeFace places
boxes poorly on faces lying on their side)."""


KnownMesh = Callable[[Detection], FollowedMesh | None]
"""Given a detection, the mesh (and eye openings) a caller already follows on that face (video
tracking), or None to have it fitted anew."""


def distinct(faces: list[Face]) -> list[Face]:
    """One face per person: two detections whose meshes landed on the same face (a false detection
    beside a face locks its mesh onto that face) are one, the better scored is kept."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda item: item.score, reverse=True):
        if face.mesh is None or all(other.mesh is None or
                                    box_overlap(mesh_box(face.mesh), mesh_box(other.mesh)) < SAME_MESH_OVERLAP
                                    for other in kept):
            kept.append(face)
    return [face for face in faces if any(face is other for other in kept)]


def face_roll(face: Face) -> float:
    """The face's tilt from its eye points (degrees, clockwise)."""
    return roll_of_points(face.landmarks_5)


def detection_roll(detection: Detection) -> float:
    """The face's tilt from the detector's eye points (its own five points when it has them)."""
    return roll_of_points(detection.landmarks_5 if detection.landmarks_5 is not None else detection.keypoints)


ANALYSER_OPTIONS = ("face_detector_score", "face_detector_min_size", "face_detector_model", "face_detector_size",
                    "face_detector_angles", "face_recogniser_model", "execution_providers", "execution_device_id",
                    "execution_gpu_memory_fraction")
"""Every option analyser_for reads: two option sets equal on these give the same analyser."""


def analyser_key(options: Options) -> tuple[object, ...]:
    """What an analyser made for ``options`` depends on, as a cache key (lists as tuples)."""
    return tuple(tuple(value) if isinstance(value, list) else value
                 for value in (getattr(options, name) for name in ANALYSER_OPTIONS))


def analyser_for(options: Options, stopwatch: Stopwatch | None = None,
                 pool: SessionPool | None = None, memo_frames: int = 0, whole_frame: bool = False) -> FaceAnalyser:
    """The analyser the options ask for (detector model and size, thresholds, execution providers);
    ``whole_frame``: see FaceAnalyser."""
    return FaceAnalyser(options.face_detector_score, options.face_detector_min_size, stopwatch,
                        choose_detector(options.face_detector_model, options.face_detector_size),
                        pool or SessionPool(execution_settings(options)),
                        choose_recogniser(options.face_recogniser_model), memo_frames,
                        tuple(options.face_detector_angles), whole_frame)


class FaceAnalyser:
    """Owns the analysis models for one worker. Models load on first use."""

    def __init__(self, score_threshold: float = 0.5, min_face_size: int = 40,
                 stopwatch: Stopwatch | None = None, detector_choice: DetectorChoice | None = None,
                 pool: SessionPool | None = None, recogniser_choice: RecogniserChoice | None = None,
                 memo_frames: int = 0, angles: tuple[int, ...] = DEFAULT_ANGLES, whole_frame: bool = False) -> None:
        """``memo_frames``: remember the analysis of this many recent frames (and the identities of
        their faces), for callers that look at the same pictures again and again (the web UI's
        preview re-runs on every option change); 0 for video runs, where no frame comes twice.
        ``angles``: quarter turns (degrees) of the picture tried when no face is found upright.
        ``whole_frame``: the embedded detector looks at the whole frame only, no tiles for small faces (live)."""
        self.whole_frame = whole_frame
        self.angles = tuple(angle for angle in angles if angle % 360)
        self.stopwatch = stopwatch
        self.score_threshold = score_threshold
        self.min_face_size = min_face_size
        self.detector_choice = detector_choice or DetectorChoice()
        self.recogniser_choice = recogniser_choice or RecogniserChoice()
        self.pool = pool or SessionPool()
        self._faces_memo: Memo[bytes, list[Face]] | None = Memo(memo_frames) if memo_frames else None
        self._identity_memo: Memo[tuple[bytes, bytes], Embedding] | None = (
            Memo(memo_frames * 8) if memo_frames else None)

    # The models load on first use (cached properties); ``close`` releases them and the next use loads
    # them again.
    @cached_property
    def detector(self) -> Detector:
        from .neural_detect import NeuralDetector

        choice = self.detector_choice
        detectors: list[Detector] = [NeuralDetector(path, self.pool, choice.size, self.score_threshold,
                                                    self.min_face_size) for path in choice.files]
        if choice.embedded:
            detectors.insert(0, FaceDetector(self.score_threshold, self.min_face_size, self.whole_frame))
        return detectors[0] if len(detectors) == 1 else MergedDetector(detectors)

    @cached_property
    def landmarker(self) -> FaceLandmarker:
        return FaceLandmarker()

    @cached_property
    def recogniser(self) -> FaceRecogniser | ArcFaceRecogniser:
        file = self.recogniser_choice.file
        return FaceRecogniser() if file is None else ArcFaceRecogniser(file, self.pool)

    @cached_property
    def eye_check(self) -> EyeCheck:
        return EyeCheck()

    @cached_property
    def orientation(self) -> OrientationCheck:
        return OrientationCheck()

    def warm_up(self) -> None:
        """Load every model now (so timings and first requests do not pay for it)."""
        blank = np.zeros((64, 64, 3), np.uint8)
        self.detector.detect(blank)
        self.landmarker.fit_once(blank, np.array([0, 0, 64, 64], np.float32))
        self.orientation.upright_score(blank)
        _ = self.recogniser

    def analyse(self, frame: FrameBGR, turned: bool = True, known: KnownMesh | None = None) -> list[Face]:
        """Every face in the frame with box, score, 5 points and, where it fits, the 468-point mesh.
        ``turned``: when nothing is found upright, also look at the picture turned by ``angles``
        (video tracking asks for that only now and then: most frames without a face stay so).
        ``known``: meshes the caller already has for some detections (a tracked face's follower), used
        instead of a fit from scratch and the checks that it is an upright face."""
        if self._faces_memo is None or known is not None:
            return self._analyse(frame, turned, known)
        key = frame_digest(frame)
        remembered = self._faces_memo.get(key)
        if remembered is None:
            remembered = self._analyse(frame, turned)
            self._faces_memo.put(key, remembered)
        return list(remembered)

    def detect(self, frame: FrameBGR, turned: bool = True) -> list[Detection]:
        """The detector's boxes, in the frame's coordinates: upright, and when that finds nothing,
        the picture turned by each of ``angles`` in turn until one finds faces (a photo or clip lying
        on its side or upside down)."""
        with timed(self.stopwatch, "detect"):
            detections = self.detector.detect(frame)
            for angle in self.angles if turned and not detections else ():
                detections = detect_turned(self.detector, frame, angle)
                if detections:
                    break
        return detections

    def _analyse(self, frame: FrameBGR, turned: bool = True, known: KnownMesh | None = None) -> list[Face]:
        detections = self.detect(frame, turned)
        faces = self._faces(frame, detections, known)
        if detections and not faces and turned:
            # Only weak boxes that did not hold up as faces: a turned picture's faces are often seen upright
            # like that (at the wrong roll), so the turns are tried as when nothing is found.
            for angle in self.angles:
                with timed(self.stopwatch, "detect"):
                    extra = detect_turned(self.detector, frame, angle)
                faces = self._faces(frame, extra, known)
                if faces:
                    break
        if not turned:
            return distinct(faces)
        # Faces found lying on their side or upside down say the picture itself is turned: the detector
        # sees most faces of such a picture only once it is turned back (a group photo on its side), so
        # that turn runs too and the faces it adds are kept.
        for angle in dict.fromkeys(upright_turn(face_roll(face)) for face in faces if face.mesh is not None):
            if angle not in self.angles:
                continue
            with timed(self.stopwatch, "detect"):
                extra = detect_turned(self.detector, frame, angle)
            faces.extend(self._faces(frame, [detection for detection in extra if all(
                overlap_of_smaller(detection.bbox, face.bbox) < DUPLICATE_OVERLAP for face in faces)], known))
        return distinct(faces)

    def _faces(self, frame: FrameBGR, detections: list[Detection], known: KnownMesh | None = None) -> list[Face]:
        """The faces of ``detections``, without the weak ones that do not hold up as faces."""
        return [face for face in (self._face(frame, detection, known) for detection in detections)
                if face is not None]

    def _face(self, frame: FrameBGR, detection: Detection, known: KnownMesh | None = None) -> Face | None:
        """The face of ``detection``; None for a weak detection that does not hold up as a face."""
        with timed(self.stopwatch, "landmarks"):
            followed = known(detection) if known is not None else None
            mesh: Points | None
            if followed is not None:
                mesh = followed.mesh
            else:
                mesh = self._fitted_mesh(frame, detection)
                if not_a_face(self.orientation, frame, detection, mesh):
                    return None
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
        bbox = detection.bbox
        if mesh is not None and box_overlap(mesh_box(mesh), bbox) < TRUST_BOX_OVERLAP:
            bbox = mesh_box(mesh)
        eyes_open = None if followed is None else followed.eyes_open
        if mesh is not None and eyes_open is None:
            plain = eye_openings(mesh)
            # The plain mesh reads closed eyes as half open (0.20 to 0.23) but never reads more than that
            # for them: eyes it sees wider open need no second look.
            if min(plain) > CLEARLY_OPEN:
                eyes_open = plain
            else:
                with timed(self.stopwatch, "landmarks"):
                    eyes_open = self.eye_check.openness(frame, mesh)
        return Face(bbox=bbox, score=detection.score, landmarks_5=landmarks_5, mesh=mesh, eyes_open=eyes_open)

    def _fitted_mesh(self, frame: FrameBGR, detection: Detection) -> Points | None:
        """The mesh of ``detection`` fitted from scratch, the right way up."""
        mesh = self.landmarker.mesh(frame, detection.bbox, detection_roll(detection))
        if mesh is not None and upside_down(self.orientation, frame, mesh):
            turned_mesh = self.landmarker.mesh(frame, detection.bbox, roll_of_points(five_points_from_mesh(mesh)) + 180)
            mesh = turned_mesh if turned_mesh is not None else mesh
        return mesh

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
        for name in ("detector", "landmarker", "orientation", "eye_check", "recogniser"):
            model = self.__dict__.pop(name, None)
            if model is not None and hasattr(model, "close"):
                model.close()


def not_a_face(orientation: OrientationCheck, frame: FrameBGR, detection: Detection, mesh: Points | None) -> bool:
    """Whether a weakly scored BlazeFace box is a patch of background (a blurred room behind a
    close-up scored 0.50-0.65 frame after frame; with a mesh fitted to it, it was swapped, without
    one it was reported as a face that could not be swapped). On such a patch the mesh's eyes and
    nose land away from the detector's own, and the face check does not see an upright face; a real
    face, however weak its score, passes at least one of the two."""
    if detection.score >= DOUBTFUL_SCORE or detection.keypoints is None:
        return False
    mesh_points = five_points_from_mesh(mesh) if mesh is not None else None
    if mesh_points is not None:
        size = max(float(detection.bbox[2] - detection.bbox[0]), 1.0)
        disagreement = float(np.linalg.norm(detection.keypoints[:3] - mesh_points[:3], axis=1).mean())
        if disagreement / size <= KEYPOINT_AGREEMENT:
            return False
    # The detector's own box (the mesh's box follows the mesh wherever it was pushed and can frame
    # something face-like), turned upright by the detector's roll, the other way up (BlazeFace places
    # an upside-down face's points as if it were upright) or by the mesh's roll.
    rolls = [detection_roll(detection), detection_roll(detection) + 180]
    if mesh_points is not None:
        rolls.append(roll_of_points(mesh_points))
    for roll in rolls:
        crop = upright_crop(frame, detection.bbox, roll, DOUBTFUL_CROP_SCALE, ORIENTATION_CROP_SIZE)
        if orientation.upright_score(crop) >= DOUBTFUL_UPRIGHT:
            return False
    return True

def upside_down(orientation: OrientationCheck, frame: FrameBGR, mesh: Points) -> bool:
    """Whether the mesh was fitted the wrong way up. BlazeFace takes an upside-down face for an
    upright one (its points are then placed as if upright) and the mesh follows it; the detector
    itself scores the face clearly higher the right way up (short-range model, 48 faces of the
    development photos upright and upside down: by 0.10 or more, every time), so the face's crop is
    scored as the mesh has it and turned over."""
    roll = roll_of_points(five_points_from_mesh(mesh))
    scores = []
    for angle in (roll, roll + 180):
        crop = upright_crop(frame, mesh_box(mesh), angle, ORIENTATION_CROP_SCALE, ORIENTATION_CROP_SIZE)
        scores.append(orientation.upright_score(crop))
    return scores[1] > scores[0] + ORIENTATION_MARGIN

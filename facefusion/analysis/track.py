"""Faces followed across video frames: tracks, smoothing, gap filling, scene cuts.

Full detection runs every few frames (and after a cut); in between each track's mesh is refitted on
a crop around where it was, which is cheaper and steadier. Mesh points are smoothed with a One Euro
filter (little lag when the head moves fast, little jitter when it is still). A track that misses a
few frames (motion blur, a hand passing) keeps its last mesh, carried along at the face's recent
speed, slowing down, so the swap neither pops off and on nor stands still while the head moves on.
A track's source and selection decision are made once, when it starts. Each track's refits go through
a Face Mesh of its own that follows the face (half the cost of fitting anew); it is restarted with
the track, and every segment of a video starts with no tracks, so a resumed run still gives the
frames an uninterrupted one gives. Between frames each mesh is carried by optical flow (stabilise.py): the
One Euro filter alone left a turning head's new face a few pixels behind it. A frame that repeats the one
before (clips brought to a higher frame rate have many) keeps the faces exactly as they were.

With a neural detector and processors that work from five points (the neural swapper), faces the
mesh cannot fit (profiles, covered or small faces) get tracks too: they are detected on every frame
and their five points are smoothed instead of a mesh.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..types import BoundingBox, Face, FrameBGR, Identity, Points
from .analyse import FaceAnalyser
from .detect import Detection
from .landmarks import FollowedMesh, MeshFollower, box_overlap, mesh_box, roll_of_points
from .stabilise import grey, steady_points
from .topology import five_points_from_mesh

DETECT_EVERY = 10
"""Frames between full detections while tracks are steady."""
MAX_GAP = 6
"""Frames a track may miss before it ends (its last mesh is held meanwhile)."""
MATCH_IOU = 0.3
SAME_FACE_IOU = 0.5
"""Tracks whose faces overlap this much follow one face."""
COAST_DAMPING = 0.6
"""While a track is missing, each frame it moves on by this share of the previous frame's step."""
REPEATED = 0.5
"""Mean absolute change (grey levels) of every followed face's box below which a frame repeats the one before:
under the noise of a camera's successive frames (about 2) and above a re-encoded repeat's (0.0-0.3 measured)."""
CUT_THRESHOLD = 0.35
"""Mean absolute change of a small grey thumbnail (0..1 scale x 4) above which a frame is a new scene."""


class OneEuroFilter:
    """One Euro filter (Casiraghi et al. 2012) over an array of coordinates."""

    def __init__(self, rate: float, min_cutoff: float = 1.0, beta: float = 0.05, derivative_cutoff: float = 1.0) -> None:
        self.rate = rate
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.derivative_cutoff = derivative_cutoff
        self._value: np.ndarray | None = None
        self._derivative: np.ndarray | None = None

    @staticmethod
    def _alpha(rate: float, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * rate)

    def __call__(self, value: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Filter one sample; ``scale`` (the face size) makes the speed term size-independent."""
        if self._value is None:
            self._value = value.astype(np.float64)
            self._derivative = np.zeros_like(self._value)
            return value
        derivative = (value - self._value) * self.rate
        assert self._derivative is not None  # set with the first value
        a_d = self._alpha(self.rate, self.derivative_cutoff)
        self._derivative = a_d * derivative + (1 - a_d) * self._derivative
        speed = np.abs(self._derivative) / max(scale, 1e-6) * 100
        cutoff = self.min_cutoff + self.beta * speed
        a = self._alpha(self.rate, cutoff)
        self._value = a * value + (1 - a) * self._value
        return self._value.astype(np.float32)


@dataclass
class Track:
    track_id: int
    face: Face
    identity: Identity | None
    filter: OneEuroFilter
    missed: int = 0
    points_filter: OneEuroFilter | None = None
    """Smooths the five points while the face has no mesh."""
    step: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    """How far (x, y pixels) the face moved per frame lately; what a missing face coasts on."""
    points_offset: np.ndarray | None = None
    """Where the detector's own five points sat relative to the mesh's (in units of the eye line), at
    the last full detection: carried into the frames where only the mesh is refitted."""
    follower: MeshFollower | None = None
    """The Face Mesh that refits this face between full detections (it remembers the face)."""

    def seen(self, face: Face) -> None:
        """The face was found in this frame."""
        if self.missed == 0:
            moved = np.array(face.centre, np.float32) - np.array(self.face.centre, np.float32)
            self.step = (0.5 * self.step + 0.5 * moved).astype(np.float32)
        else:
            self.step = np.zeros(2, np.float32)
        self.face = face
        self.missed = 0

    def coast(self) -> None:
        """The face was not found in this frame: carry the last one on, slowing down."""
        self.missed += 1
        self.step = (self.step * COAST_DAMPING).astype(np.float32)
        self.face = _moved(self.face, self.step)


def _moved(face: Face, shift: np.ndarray) -> Face:
    mesh = None
    if face.mesh is not None:
        mesh = face.mesh.copy()
        mesh[:, :2] += shift
    return dataclasses.replace(face, bbox=face.bbox + np.tile(shift, 2), landmarks_5=face.landmarks_5 + shift,
                               mesh=mesh)


def _eye_frame(five: Points) -> np.ndarray:
    """Rows: the eye line and its perpendicular, so an offset moves and turns with the face."""
    eyes = (five[1] - five[0]).astype(np.float64)
    return np.array([eyes, [-eyes[1], eyes[0]]]) if np.linalg.norm(eyes) > 1e-6 else np.eye(2)


def points_offset(face: Face) -> np.ndarray | None:
    """The face's five points relative to the mesh's, in eye-line units (None without a mesh)."""
    if face.mesh is None:
        return None
    from_mesh = five_points_from_mesh(face.mesh)
    return (face.landmarks_5 - from_mesh) @ np.linalg.inv(_eye_frame(from_mesh))


def thumbnail(frame: FrameBGR) -> np.ndarray:
    step = max(1, min(frame.shape[0] // 72, frame.shape[1] // 128))
    small = cv2.resize(frame[::step, ::step], (64, 36), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0


Decide = Callable[[FrameBGR, list[Face]], list[Identity | None]]
"""Given a frame and the faces of new tracks (with the existing ones' faces for order), return the
identity each new face gets (None: leave it alone). Called once per new track."""


@dataclass
class FaceTracker:
    analyser: FaceAnalyser
    rate: float
    decide: Decide
    detect_every: int = DETECT_EVERY
    meshless_tracks: bool = False
    """Start tracks for faces without a mesh (worth it only when a neural detector found them and
    what runs next needs no mesh)."""
    tracks: list[Track] = field(default_factory=list)
    unfitted: int = 0
    """Faces found at full detections that the mesh could not be fitted to and no track follows (said
    in the run's report: they are left as they are)."""
    _next_id: int = 0
    _since_detection: int = 0
    _since_turned: int = DETECT_EVERY
    _previous: np.ndarray | None = None
    _greys: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
    """The previous frame and this one in grey, as they came (before any face was drawn in them), for the flow
    that holds meshes steady."""
    _idle_followers: list[MeshFollower] = field(default_factory=list)

    def reset(self) -> None:
        self._keep([])
        self._since_detection = 0
        self._since_turned = self.detect_every
        self._previous = None
        self._greys = (None, None)

    def close(self) -> None:
        """Release the Face Meshes that follow faces."""
        self._keep([])
        for follower in self._idle_followers:
            follower.close()
        self._idle_followers = []

    def _keep(self, tracks: list[Track]) -> None:
        """These tracks go on; the followers of the others are kept for new tracks."""
        staying = {id(track) for track in tracks}
        for track in self.tracks:
            if id(track) not in staying and track.follower is not None:
                self._idle_followers.append(track.follower)
                track.follower = None
        self.tracks = tracks

    def _follower(self) -> MeshFollower:
        """A follower that remembers no face: a fresh one, or one a finished track left (restarted)."""
        if self._idle_followers:
            follower = self._idle_followers.pop()
            follower.restart()
            return follower
        return MeshFollower()

    def update(self, frame: FrameBGR) -> list[Track]:
        """Advance one frame; return the tracks visible (or held) in it."""
        grey_frame, small = grey(frame), thumbnail(frame)
        if self._repeated(grey_frame, small):
            # A repeated frame (a clip brought to a higher frame rate repeats some): the faces stay exactly as
            # they were. Followed anew, the smoothed meshes would go on settling and the new face would move
            # on a still frame.
            return list(self.tracks)
        cut = self._previous is not None and float(np.abs(small - self._previous).mean()) * 4 > CUT_THRESHOLD
        self._previous = small
        self._greys = (self._greys[1], grey_frame)
        if cut:
            self._keep([])
        if not self.tracks or cut or self._since_detection >= self.detect_every - 1 or \
                any(track.missed or track.face.mesh is None for track in self.tracks):
            self._detect(frame)
            self._since_detection = 0
        else:
            self._refit(frame)
            self._since_detection += 1
        self._keep(self._one_per_face([track for track in self.tracks if track.missed <= MAX_GAP]))
        return list(self.tracks)

    def _repeated(self, grey_frame: np.ndarray, small: np.ndarray) -> bool:
        """Whether the frame is the one before again: every followed face's box unchanged (within ``REPEATED``)
        and the whole frame's thumbnail too (someone coming in beside a still face is no repeat)."""
        previous = self._greys[1]
        if not self.tracks or previous is None or previous.shape != grey_frame.shape or self._previous is None or \
                float(np.abs(small - self._previous).mean()) * 255 >= REPEATED:
            return False
        height, width = grey_frame.shape
        for track in self.tracks:
            x1, y1, x2, y2 = (int(value) for value in np.round(track.face.bbox))
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
            if x2 - x1 < 2 or y2 - y1 < 2 or \
                    float(cv2.absdiff(grey_frame[y1:y2, x1:x2], previous[y1:y2, x1:x2]).mean()) >= REPEATED:
                return False
        return True

    @staticmethod
    def _one_per_face(tracks: list[Track]) -> list[Track]:
        """Two tracks that have come to follow the same face (a false detection beside a face whose
        refitted mesh slid onto that face) would swap it twice: the younger one ends."""
        kept: list[Track] = []
        for track in sorted(tracks, key=lambda item: item.track_id):
            if all(box_overlap(track.face.bbox, other.face.bbox) < SAME_FACE_IOU for other in kept):
                kept.append(track)
        chosen = {id(track) for track in kept}
        return [track for track in tracks if id(track) in chosen]

    def _smoothed(self, track: Track, face: Face) -> Face:
        if face.mesh is None:
            if track.points_filter is None:
                track.points_filter = OneEuroFilter(self.rate)
            return dataclasses.replace(face, landmarks_5=track.points_filter(face.landmarks_5, scale=face.size))
        mesh = track.filter(face.mesh, scale=face.size)
        previous_grey, grey_frame = self._greys
        if previous_grey is not None and grey_frame is not None and track.missed == 0 and \
                track.face.mesh is not None and track.follower is not None:
            mesh[:, :2] = steady_points(previous_grey, grey_frame, track.face.mesh, face.mesh, face.size)[:, :2]
        five = five_points_from_mesh(mesh)
        if track.points_offset is not None:
            five = (five + track.points_offset @ _eye_frame(five)).astype(np.float32)
        # The box comes from the smoothed mesh in every frame: at a full detection the detector's own box
        # (a different size) made the face's masks and blurs jump for that one frame, a visible pop.
        return dataclasses.replace(face, bbox=mesh_box(mesh), mesh=mesh, landmarks_5=five)

    def _follow(self, track: Track, frame: FrameBGR, near: BoundingBox | None = None) -> FollowedMesh | None:
        """The track's follower fitted on ``frame`` around where its face was. With ``near`` (a box the face
        was found in this frame), None unless the mesh lands on it, and the follower starts afresh."""
        if track.follower is None:
            track.follower = self._follower()
        previous = track.face
        bbox = mesh_box(previous.mesh) if previous.mesh is not None else previous.bbox
        followed = track.follower.fit(frame, bbox, roll_of_points(previous.landmarks_5))
        if near is not None and (followed is None or box_overlap(mesh_box(followed.mesh), near) <= MATCH_IOU):
            track.follower.restart()  # it follows something else: it starts again from the next fit
            return None
        return followed

    def _started(self, track: Track, frame: FrameBGR, face: Face) -> Face:
        """A new track's face as its follower sees it on the first frame, so a track draws with the
        follower's (refined) mesh throughout; the face as found when the follower does not take it."""
        if face.mesh is None:
            return face
        followed = self._follow(track, frame, near=face.bbox)
        if followed is None:
            return face
        return dataclasses.replace(face, mesh=followed.mesh, eyes_open=followed.eyes_open)

    def _refit(self, frame: FrameBGR) -> None:
        for track in self.tracks:
            followed = self._follow(track, frame)
            if followed is None:
                track.coast()
                continue
            face = dataclasses.replace(track.face, bbox=mesh_box(followed.mesh), mesh=followed.mesh,
                                       eyes_open=followed.eyes_open)
            track.seen(self._smoothed(track, face))

    def _followed_mesh(self, frame: FrameBGR, refitted: set[int]) -> Callable[[Detection], FollowedMesh | None]:
        """For the analyser at a full detection: the mesh of a detection that a track already follows,
        refitted by the track's follower (a third of the cost of fitting it from scratch and checking it
        is an upright face, which the track's start did). None, so it is fitted anew, when no track
        follows it or the follower's mesh does not sit on the detector's box."""
        def known(detection: Detection) -> FollowedMesh | None:
            for track in self.tracks:
                if track.track_id in refitted or track.missed or track.face.mesh is None or \
                        box_overlap(track.face.bbox, detection.bbox) <= MATCH_IOU:
                    continue
                refitted.add(track.track_id)
                return self._follow(track, frame, near=detection.bbox)
            return None
        return known

    def _detect(self, frame: FrameBGR) -> None:
        # Turned pictures are looked for now and then while nothing is found, not on every frame.
        turned = self._since_turned >= self.detect_every - 1
        faces = self.analyser.analyse(frame, turned=turned, known=self._followed_mesh(frame, set()))
        self._since_turned = 0 if turned or faces else self._since_turned + 1
        unmatched = list(range(len(faces)))
        for track in self.tracks:
            best, best_iou = None, MATCH_IOU
            for index in unmatched:
                overlap = box_overlap(track.face.bbox, faces[index].bbox)
                if overlap > best_iou:
                    best, best_iou = index, overlap
            if best is None:
                track.coast()
                continue
            unmatched.remove(best)
            track.points_offset = points_offset(faces[best])
            track.seen(self._smoothed(track, faces[best]))
        # For the embedded detector, a detection the mesh cannot be fitted to is most often not a face
        # (a pattern, a hand): in a video it would only start short, useless tracks.
        new_faces = [faces[index] for index in unmatched if faces[index].mesh is not None or self.meshless_tracks]
        self.unfitted += len(unmatched) - len(new_faces)
        if new_faces:
            identities = self.decide(frame, new_faces)
            for face, identity in zip(new_faces, identities):
                track = Track(track_id=self._next_id, face=face, identity=identity, filter=OneEuroFilter(self.rate))
                face = self._started(track, frame, face)
                track.points_offset = points_offset(face)
                track.face = self._smoothed(track, face)
                self._next_id += 1
                self.tracks.append(track)

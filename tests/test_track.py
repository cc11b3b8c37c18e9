"""Tracking: smoothing, gap filling, scene cuts, one decision per track."""
from __future__ import annotations

import numpy as np

from facefusion.analysis.track import FaceTracker, OneEuroFilter
from facefusion.media.image import read_image


def test_one_euro_filter_steadies_a_still_point_and_follows_a_moving_one():
    rng = np.random.default_rng(1)
    still = OneEuroFilter(rate=30)
    noisy = 100 + rng.normal(0, 2, size=(120, 2))
    smoothed = np.array([still(sample, scale=200) for sample in noisy])
    assert smoothed[30:].std() < noisy[30:].std() / 3
    moving = OneEuroFilter(rate=30)
    path = np.stack([np.linspace(0, 600, 60), np.zeros(60)], axis=1)  # 300 px a second
    followed = np.array([moving(sample, scale=200) for sample in path])
    assert np.abs(followed[-1] - path[-1]).max() < 30, "the filter lags a moving face too much"


def _tracker(analyser, decisions):
    def decide(frame, faces):
        decisions.append(len(faces))
        return ["identity"] * len(faces)
    return FaceTracker(analyser, rate=30.0, decide=decide)


def test_tracks_keep_their_decision_and_reset_on_a_scene_cut(analyser, generated):
    face_frame = read_image(generated["grace_hopper"]).frame
    other_scene = read_image(generated["two_people"]).frame[:600, :512].copy()
    decisions: list[int] = []
    tracker = _tracker(analyser, decisions)
    ids = set()
    for _ in range(12):
        tracks = tracker.update(face_frame)
        ids |= {track.track_id for track in tracks}
    assert ids == {0} and decisions == [1], "one track, decided once, over a still shot"
    tracker.update(other_scene)
    assert decisions[-1] >= 1 and len(decisions) == 2, "a cut starts new tracks with their own decision"
    assert all(track.track_id > 0 for track in tracker.tracks)


def test_a_short_gap_keeps_the_last_face(analyser, generated):
    face_frame = read_image(generated["grace_hopper"]).frame
    decisions: list[int] = []
    tracker = _tracker(analyser, decisions)
    tracker.update(face_frame)
    covered = face_frame.copy()
    track = tracker.tracks[0]
    x1, y1, x2, y2 = track.face.bbox.astype(int)
    covered[max(0, y1 - 40):y2 + 40, max(0, x1 - 40):x2 + 40] = 128  # the face hidden, the rest unchanged
    held = tracker.update(covered)
    assert len(held) == 1 and held[0].track_id == track.track_id
    assert held[0].missed == 1 and held[0].face.mesh is not None


def test_a_missing_face_coasts_on_in_the_direction_it_was_moving(analyser, generated):
    """While the face is hidden for a frame, its swap moves on with the head instead of standing still."""
    import cv2

    portrait = read_image(generated["grace_hopper"]).frame
    wide = cv2.copyMakeBorder(portrait, 0, 0, 40, 160, cv2.BORDER_REPLICATE)

    def shifted(pixels: int) -> np.ndarray:
        matrix = np.float32([[1, 0, pixels], [0, 1, 0]])
        return cv2.warpAffine(wide, matrix, (wide.shape[1], wide.shape[0]), borderMode=cv2.BORDER_REPLICATE)

    tracker = _tracker(analyser, [])
    for frame_number in range(6):  # the head moves right 8 px a frame
        tracks = tracker.update(shifted(8 * frame_number))
    last = tracks[0].face.centre
    hidden = shifted(48)
    x1, y1, x2, y2 = tracks[0].face.bbox.astype(int)
    hidden[max(0, y1 - 40):y2 + 40, max(0, x1 - 40):x2 + 48] = 128
    held = tracker.update(hidden)
    assert len(held) == 1 and held[0].missed == 1
    moved = held[0].face.centre[0] - last[0]
    assert 1.5 < moved < 8, f"the held face should move on a little (moved {moved:.1f} px)"
    assert held[0].face.mesh is not None


def test_a_detectors_own_five_points_are_kept_on_refitted_frames(analyser, generated):
    """A neural detector's five points (what the neural models align on) differ a little from the
    mesh's estimate; frames where only the mesh is refitted keep that difference, turning with the face."""
    import dataclasses

    from facefusion.analysis.topology import five_points_from_mesh
    from facefusion.analysis.track import Track, points_offset

    frame = read_image(generated["grace_hopper"]).frame
    face = analyser.analyse(frame)[0]
    shift = np.array([[1.5, -2.0], [-1.0, -2.0], [0.0, 3.0], [2.0, 1.0], [-2.0, 1.0]], np.float32)
    detected = dataclasses.replace(face, landmarks_5=five_points_from_mesh(face.mesh) + shift)
    tracker = FaceTracker(analyser, rate=25.0, decide=lambda image, faces: [None] * len(faces))
    track = Track(track_id=0, face=detected, identity=None, filter=OneEuroFilter(25.0),
                  points_offset=points_offset(detected))
    # The head turned by 90 degrees in the picture: the offset turns with it.
    turn = np.array([[0.0, -1.0], [1.0, 0.0]], np.float32)
    centre = face.mesh[:, :2].mean(axis=0)
    turned_mesh = face.mesh.copy()
    turned_mesh[:, :2] = (face.mesh[:, :2] - centre) @ turn.T + centre
    refitted = tracker._smoothed(track, dataclasses.replace(detected, mesh=turned_mesh))
    expected = five_points_from_mesh(turned_mesh) + shift @ turn.T
    assert np.abs(refitted.landmarks_5 - expected).max() < 0.05


def test_a_blink_is_read_on_the_frames_it_happens(analyser):
    """A tracked face's eye opening is read on every frame, refitted ones included, by the refined
    mesh: on the expressive clip's frames 370-400 (eyes open, closed for about ten frames, open again)
    each frame's reading agrees with a fit of that frame alone about which eyes are closed. Before,
    a reading was made at full detections only: a blink between two was never seen and a reading
    taken during one was held for up to nine frames after the eyes opened."""
    import cv2

    from conftest import shared_file

    capture = cv2.VideoCapture(str(shared_file("video_expressions_long_01.mp4")))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 370)
    tracker = FaceTracker(analyser, rate=30.0, decide=lambda image, faces: [None] * len(faces))
    closed_frames, disagreements = 0, []
    for index in range(370, 400):
        ok, frame = capture.read()
        assert ok
        tracks = tracker.update(frame)
        assert len(tracks) == 1 and tracks[0].face.eyes_open is not None
        alone = analyser.eye_check.openness(frame, tracks[0].face.mesh)
        assert alone is not None
        closed_alone = [value < 0.12 for value in alone]
        closed_frames += any(closed_alone)
        # Readings near the threshold may fall either side; a clear reading must agree.
        for tracked, single in zip(tracks[0].face.eyes_open, alone):
            if abs(single - 0.12) > 0.05 and (tracked < 0.12) != (single < 0.12):
                disagreements.append((index, tracks[0].face.eyes_open, alone))
    capture.release()
    tracker.close()
    assert closed_frames >= 5
    assert not disagreements, disagreements

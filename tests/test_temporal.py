"""Temporal steadiness of a swapped video: meshes held by optical flow, repeated frames left as they were,
a source's fine detail matched to the target's, openings that fade instead of popping."""
from __future__ import annotations

import cv2
import numpy as np

from conftest import largest
from facefusion.analysis.stabilise import grey, steady_points
from facefusion.analysis.track import FaceTracker
from facefusion.media.image import read_image


def _shifted(frame: np.ndarray, dx: float, dy: float) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(frame, matrix, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def test_flow_holds_a_noisy_fit_steady_and_follows_the_head(analyser, generated):
    """The head moves (2.5, -1.5) px; the new fit is the true mesh with 2 px of noise. The steadied mesh is
    nearer the truth than the fit, and a fit far from where the flow went (a fast mouth) is taken as it is."""
    frame = read_image(generated["grace_hopper"]).frame
    face = largest(analyser.analyse(frame))
    moved = _shifted(frame, 2.5, -1.5)
    truth = face.mesh.copy()
    truth[:, :2] += np.array([2.5, -1.5], np.float32)
    rng = np.random.default_rng(3)
    fitted = truth.copy()
    fitted[:, :2] += rng.normal(0, 2.0, (len(truth), 2)).astype(np.float32)
    steady = steady_points(grey(frame), grey(moved), face.mesh, fitted, face.size)
    error_fit = np.linalg.norm(fitted[:, :2] - truth[:, :2], axis=1).mean()
    error_steady = np.linalg.norm(steady[:, :2] - truth[:, :2], axis=1).mean()
    assert error_steady < 0.6 * error_fit, (error_steady, error_fit)
    assert np.array_equal(steady[:, 2], fitted[:, 2])
    far = truth.copy()
    far[:20, 1] += 0.2 * face.size
    steady = steady_points(grey(frame), grey(moved), face.mesh, far, face.size)
    assert np.abs(steady[:20, :2] - far[:20, :2]).max() < 0.5


def test_a_repeated_frame_keeps_the_faces_exactly_and_a_moved_one_does_not(analyser, generated):
    frame = read_image(generated["grace_hopper"]).frame
    tracker = FaceTracker(analyser, rate=25.0, decide=lambda image, faces: [None] * len(faces))
    for dx in (0, 3, 6):
        tracks = tracker.update(_shifted(frame, dx, 0))
    before = tracks[0].face.mesh.copy()
    repeat = _shifted(frame, 6, 0)
    repeat = np.clip(repeat.astype(np.int16) + np.random.default_rng(1).integers(-1, 2, repeat.shape), 0, 255)
    again = tracker.update(repeat.astype(np.uint8))  # the same picture, as a re-encode brings it back
    assert np.array_equal(again[0].face.mesh, before)
    elsewhere = repeat.astype(np.uint8).copy()
    x1, y1, x2, y2 = again[0].face.bbox.astype(int)
    elsewhere[:, min(elsewhere.shape[1] - 1, x2 + 40):] = 30  # someone comes in beside the still face
    remembered = tracker._previous
    tracker.update(elsewhere)
    assert tracker._previous is not remembered, "a frame that changed beside the face is no repeat"
    moved = tracker.update(_shifted(frame, 9, 0))
    assert moved[0].face.mesh[:, 0].mean() > before[:, 0].mean() + 0.5
    tracker.close()


def test_a_sharp_source_is_softened_to_a_soft_targets_detail_and_a_soft_one_left_alone(generated):
    from facefusion.classical.blend import fine_detail, matched_detail

    photo = read_image(generated["grace_hopper"]).frame[100:400, 100:400]
    soft = cv2.GaussianBlur(photo, (0, 0), 1.6)
    skin = np.ones(photo.shape[:2], bool)
    softened = matched_detail(photo, soft, skin)
    wanted = fine_detail(cv2.cvtColor(soft, cv2.COLOR_BGR2GRAY), skin)
    assert fine_detail(cv2.cvtColor(softened, cv2.COLOR_BGR2GRAY), skin) <= wanted * 1.2
    assert fine_detail(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), skin) > wanted * 1.5
    assert matched_detail(soft, photo, skin) is soft


def test_the_targets_own_mouth_fades_in_as_it_opens(analyser, generated):
    """Between closed and open the target's own mouth shows in part: a talking mouth crosses any threshold
    back and forth, and a hard one made its inside pop from frame to frame."""
    import dataclasses

    from facefusion.analysis.topology import INNER_LIPS, LOWER_INNER_LIP, UPPER_INNER_LIP, mesh_topology, opening_ratio
    from facefusion.classical.swap import MOUTH_OPEN, own_openings

    face = largest(analyser.analyse(read_image(generated["grace_hopper"]).frame))
    mouth = mesh_topology().mouth
    shares = []
    for wanted in (0.0, sum(MOUTH_OPEN) / 2, MOUTH_OPEN[1] + 0.05):
        mesh = face.mesh.copy()
        # The reading is the inner lips' middle gap over their width; the gap is set to what is wanted.
        width = np.linalg.norm(mesh[INNER_LIPS[0], :2] - mesh[INNER_LIPS[len(INNER_LIPS) // 2], :2])
        mesh[LOWER_INNER_LIP, :2] = mesh[UPPER_INNER_LIP, :2] + np.array([0.0, wanted * width], np.float32)
        assert abs(opening_ratio(mesh, INNER_LIPS) - wanted) < 0.01
        target = dataclasses.replace(face, mesh=mesh)
        shares.append(float(own_openings(target, face)[mouth].max()))
    assert shares[0] == 0.0 and 0.2 < shares[1] < 0.8 and shares[2] == 1.0, shares


def test_a_moving_head_keeps_its_new_face_on_it(analyser, generated):
    """The head moves 6 px a frame: the followed mesh stays within a pixel and a half of it. Smoothed without
    the flow it trailed by several pixels, and the new face slid off the head in every turn."""
    frame = read_image(generated["grace_hopper"]).frame
    wide = cv2.copyMakeBorder(frame, 0, 0, 20, 80, cv2.BORDER_REPLICATE)
    tracker = FaceTracker(analyser, rate=25.0, decide=lambda image, faces: [None] * len(faces))
    first = tracker.update(wide)[0].face.mesh[:, :2].mean(axis=0)
    for step in range(1, 9):
        tracks = tracker.update(_shifted(wide, 6 * step, 0))
    moved = tracks[0].face.mesh[:, :2].mean(axis=0) - first
    tracker.close()
    assert abs(moved[0] - 48) < 1.5 and abs(moved[1]) < 1.5, moved

"""Every face found and fitted whatever its size, tilt or turn: both BlazeFace models, pictures turned by
quarter turns, meshes fitted on upright crops, and faces that cannot be fitted said in the report."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import SHARED, has_shared, largest, shared_file
from facefusion import Options, Studio
from facefusion.analysis.analyse import upright_turn
from facefusion.analysis.detect import _turned_back
from facefusion.analysis.landmarks import roll_of
from facefusion.media.image import read_image

FACES = {"group_six_faces_01.jpg": 6, "two_faces_01.jpg": 2, "two_women_selfie_01.jpg": 2,
         "no_face_landscape_01.jpg": 0}
"""Faces in the development photos (every other photo holds one face)."""
PHOTOS = sorted(path.name for path in SHARED.glob("*") if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
def rolled(frame: np.ndarray, degrees: float) -> np.ndarray:
    """The picture turned by ``degrees`` (anticlockwise) on a canvas large enough to hold it."""
    height, width = frame.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width, new_height = int(height * sin + width * cos), int(height * cos + width * sin)
    matrix[:, 2] += (new_width / 2 - width / 2, new_height / 2 - height / 2)
    return cv2.warpAffine(frame, matrix, (new_width, new_height), borderMode=cv2.BORDER_REPLICATE)


def turned(frame: np.ndarray, quarter_turns: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(frame, quarter_turns))


def _check_all_fitted(analyser, frame: np.ndarray, expected: int, label: str) -> None:
    faces = analyser.analyse(frame)
    fitted = [face for face in faces if face.mesh is not None]
    assert len(fitted) == expected, f"{label}: {len(fitted)} of {expected} faces fitted ({len(faces)} found)"


@pytest.mark.skipif(not has_shared(), reason="needs ../shared/testdata")
@pytest.mark.parametrize("name", PHOTOS)
def test_every_face_of_every_development_photo_is_found_and_fitted(analyser, name):
    _check_all_fitted(analyser, read_image(SHARED / name).frame, FACES.get(name, 1), name)


@pytest.mark.skipif(not has_shared(), reason="needs ../shared/testdata")
@pytest.mark.parametrize("name", PHOTOS)
def test_faces_are_found_in_turned_and_rolled_copies(analyser, name):
    frame = read_image(SHARED / name).frame
    expected = FACES.get(name, 1)
    for quarter_turns in (1, 2, 3):
        _check_all_fitted(analyser, turned(frame, quarter_turns), expected, f"{name} turned {quarter_turns * 90}")
    for degrees in (30, -30, 60, -60):
        _check_all_fitted(analyser, rolled(frame, degrees), expected, f"{name} rolled {degrees}")


@pytest.mark.parametrize("degrees", [0, 30, -30, 60, -60, 90, 180, 270])
def test_a_turned_face_gets_an_upright_mesh_in_place(analyser, generated, degrees):
    """Works without the shared photos: the package portrait, turned; the mesh's eyes keep the turn."""
    frame = read_image(generated["grace_hopper"]).frame
    picture = rolled(frame, degrees)
    face = largest(analyser.analyse(picture))
    assert face.mesh is not None
    # The eye line turns with the picture (clockwise roll = anticlockwise picture turn, negated).
    upright_roll = roll_of(*largest(analyser.analyse(frame)).landmarks_5[:2])
    difference = (roll_of(*face.landmarks_5[:2]) - upright_roll + degrees + 180) % 360 - 180
    assert abs(difference) < 8, difference
    assert all(face.bbox[0] - 5 <= x <= face.bbox[2] + 5 and face.bbox[1] - 5 <= y <= face.bbox[3] + 5
               for x, y in face.landmarks_5)


def test_a_group_on_its_side_is_found_whole(analyser):
    frame = read_image(shared_file("group_six_faces_01.jpg")).frame
    for quarter_turns in (1, 3):
        assert sum(face.mesh is not None for face in analyser.analyse(turned(frame, quarter_turns))) == 6


def test_close_ups_are_found(analyser):
    for name in ("man_open_mouth_closeup_01.jpg", "man_closeup_speaking_01.jpg"):
        faces = analyser.analyse(read_image(shared_file(name)).frame)
        assert len(faces) == 1 and faces[0].mesh is not None and faces[0].size > 350, name


def test_angle_zero_only_looks_at_the_picture_as_it_is():
    from facefusion.analysis.analyse import analyser_for

    blank = np.full((200, 300, 3), 90, np.uint8)
    for angles, runs in (([0], 1), ([0, 90, 270, 180], 4)):
        analyser = analyser_for(Options(face_detector_angles=angles))
        calls = []
        detect = analyser.detector.detect
        analyser.detector.detect = (  # type: ignore[method-assign]
            lambda image, calls=calls, detect=detect: calls.append(image.shape) or detect(image))
        assert analyser.analyse(blank) == []
        assert len(calls) == runs, angles
        assert analyser.analyse(blank, turned=False) == [] and len(calls) == runs + 1


def test_points_map_back_from_each_quarter_turn():
    points = np.array([[10.0, 20.0], [55.5, 3.0]], np.float32)
    frame = np.zeros((40, 70, 3), np.uint8)
    for turns in range(4):
        picture = np.rot90(frame, turns)
        # Where the frame's points land in the turned picture, found by turning a marker image.
        for x, y in points:
            marker = np.zeros(frame.shape[:2], np.uint8)
            marker[int(y), int(x)] = 255
            ys, xs = np.nonzero(np.rot90(marker, turns))
            back = _turned_back(np.array([[xs[0] + 0.5, ys[0] + 0.5]]), turns, frame.shape[1], frame.shape[0])[0]
            assert picture.shape[:2] == np.rot90(marker, turns).shape
            assert np.abs(back - (int(x) + 0.5, int(y) + 0.5)).max() < 1e-4


def test_the_turn_that_makes_a_face_upright():
    assert upright_turn(0) == 0 and upright_turn(30) == 0 and upright_turn(-44) == 0
    assert upright_turn(90) == 270 and upright_turn(-90) == 90 and upright_turn(180) == 180 and upright_turn(-170) == 180


def test_a_turned_photo_is_swapped(generated, tmp_path):
    target = tmp_path / "lying.png"
    cv2.imwrite(str(target), turned(read_image(generated["grace_hopper"]).frame, 1))
    with Studio(Options(face_selector_mode="many")) as studio:
        report = studio.swap_image([generated["astronaut"]], target)
    assert report.faces_found == 1 and report.faces_swapped == 1
    assert not np.array_equal(report.frame, read_image(target).frame)

"""Faces are found where they are, and nowhere else."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_file
from facefusion.analysis.detect import Detection, merge_detections, tile_grid
from facefusion.media.image import read_image


def _inside(face, x: float, y: float) -> bool:
    return face.bbox[0] <= x <= face.bbox[2] and face.bbox[1] <= y <= face.bbox[3]


@pytest.mark.parametrize("name, count", [
    ("group_six_faces_01.jpg", 6), ("two_faces_01.jpg", 2), ("man_small_face_01.jpg", 1),
    ("no_face_landscape_01.jpg", 0), ("man_frontal_01.jpg", 1), ("woman_profile_01.jpeg", 1),
])
def test_counts_faces_in_real_photos(analyser, name, count):
    faces = analyser.analyse(read_image(shared_file(name)).frame)
    assert len(faces) == count


def test_every_face_of_the_group_gets_landmarks(analyser):
    faces = analyser.analyse(read_image(shared_file("group_six_faces_01.jpg")).frame)
    assert sum(face.mesh is not None for face in faces) == 6
    for face in faces:
        assert all(_inside(face, x, y) for x, y in face.landmarks_5)


def test_two_people_found_at_their_places(analyser, generated):
    faces = analyser.analyse(read_image(generated["two_people"]).frame)
    assert len(faces) == 2
    assert any(_inside(face, 340, 360) for face in faces)
    assert any(_inside(face, 940, 360) for face in faces)
    assert all(face.mesh is not None and face.mesh.shape == (468, 3) for face in faces)


def test_small_face_in_720p_frame(analyser, generated):
    faces = analyser.analyse(read_image(generated["small_face"]).frame)
    assert len(faces) == 1
    face = faces[0]
    assert _inside(face, 948, 448)
    assert 30 <= face.width <= 70
    assert face.mesh is not None


def test_no_face_in_generated_landscape(analyser, generated):
    assert analyser.analyse(read_image(generated["no_face"]).frame) == []


def test_min_face_size_option_drops_small_faces(generated):
    from facefusion.analysis.analyse import FaceAnalyser

    strict = FaceAnalyser(min_face_size=120)
    assert strict.analyse(read_image(generated["small_face"]).frame) == []


def test_score_threshold_option(generated):
    from facefusion.analysis.analyse import FaceAnalyser

    picky = FaceAnalyser(score_threshold=0.99)
    assert picky.analyse(read_image(generated["two_people"]).frame) == []


def test_tiles_cover_the_frame():
    tiles = tile_grid(1280, 720, 720, 120)
    covered = np.zeros((720, 1280), bool)
    for x, y, w, h in tiles:
        covered[y:y + h, x:x + w] = True
    assert covered.all()
    assert len(tiles) == 2
    assert tiles[0][0] + tiles[0][2] - tiles[1][0] >= 120
    assert len(tile_grid(1920, 1080, 720, 120)) == 3 * 2


def test_duplicate_boxes_merge_to_the_better_one():
    whole = Detection(np.array([100, 100, 200, 200], np.float32), 0.9, np.zeros((6, 2), np.float32))
    cut = Detection(np.array([100, 100, 150, 200], np.float32), 0.8, np.zeros((6, 2), np.float32))
    other = Detection(np.array([400, 100, 500, 200], np.float32), 0.7, np.zeros((6, 2), np.float32))
    merged = merge_detections([cut, other, whole])
    assert len(merged) == 2
    assert any(d is whole for d in merged) and any(d is other for d in merged)


def test_a_box_over_two_faces_gives_way_to_the_two():
    """The close-range model can box two faces cheek to cheek as one, with the best score of the three."""
    points = np.zeros((6, 2), np.float32)
    both = Detection(np.array([325, 60, 430, 165], np.float32), 0.88, points)
    left = Detection(np.array([311, 58, 384, 131], np.float32), 0.67, points)
    right = Detection(np.array([372, 99, 457, 184], np.float32), 0.79, points)
    merged = merge_detections([both, left, right])
    assert len(merged) == 2 and all(d is not both for d in merged)
    eye = Detection(np.array([340, 80, 370, 110], np.float32), 0.6, points)
    mouth = Detection(np.array([360, 130, 390, 160], np.float32), 0.6, points)
    assert any(d is both for d in merge_detections([both, eye, mouth]))  # parts of one face are not two faces


def test_two_faces_cheek_to_cheek_in_a_clip_are_two(analyser):
    import cv2

    capture = cv2.VideoCapture(str(shared_file("video_multi_face_01.mp4")))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 260)
    ok, frame = capture.read()
    capture.release()
    assert ok
    faces = analyser.analyse(frame)
    # The couple in the middle (heads at about x 345 and 410): each found, once.
    assert len(faces) >= 2
    for x, y in ((345, 95), (412, 140)):
        assert sum(_inside(face, x, y) for face in faces) == 1
    # The laughing woman at the left is found in this frame on some machines and not on others (where she is
    # missed, she is found in frames near it); never twice.
    assert sum(_inside(face, 187, 135) for face in faces) <= 1


def test_a_remembering_analyser_analyses_each_picture_once(generated):
    """The web UI's preview asks again for the same frame on every option change."""
    from facefusion.analysis.analyse import FaceAnalyser

    frame = read_image(generated["two_people"]).frame
    analyser = FaceAnalyser(memo_frames=2, angles=(0,))  # one run on the whole picture each
    calls = []
    detect = analyser.detector.detect
    analyser.detector.detect = lambda image: calls.append(1) or detect(image)  # type: ignore[method-assign]
    first = analyser.analyse(frame)
    again = analyser.analyse(frame.copy())
    assert len(calls) == 1 and len(again) == len(first) == 2
    assert all(np.array_equal(a.bbox, b.bbox) for a, b in zip(first, again))
    changed = frame.copy()
    changed[0, 0] += 1
    analyser.analyse(changed)
    assert len(calls) == 2, "a different picture is analysed anew"
    embedded = analyser.embed(frame, first[0])
    assert np.array_equal(analyser.embed(frame, first[0]).embedding, embedded.embedding)
    for other in range(3):  # older pictures are forgotten
        analyser.analyse(np.full((64, 64, 3), other, np.uint8))
    analyser.analyse(frame)
    assert len(calls) == 6


def test_a_blurred_background_behind_a_close_up_is_no_face(analyser):
    """video_720p_woman_01's room, out of focus behind her, scored 0.50-0.65 as a face for dozens of frames
    (enlarged 1.5x as a close-up: frames 191-214; as filmed: 221-233), and a mesh was fitted to it and swapped."""
    import cv2

    clip = shared_file("video_720p_woman_01.mp4")
    capture = cv2.VideoCapture(str(clip))
    counts: dict[str, list[int]] = {"close-up": [], "as filmed": []}
    index = 0
    while index <= 233:
        ok, frame = capture.read()
        if not ok:
            break
        if 191 <= index <= 214:
            close_up = cv2.resize(frame[30:510, 314:1167], (1280, 720), interpolation=cv2.INTER_CUBIC)
            counts["close-up"].append(len(analyser.analyse(close_up)))
        if 221 <= index <= 233:
            counts["as filmed"].append(len(analyser.analyse(frame)))
        index += 1
    capture.release()
    assert counts["close-up"] == [1] * 24 and counts["as filmed"] == [1] * 13, counts


@pytest.mark.parametrize("scale", [0.9, 0.7, 0.5, 0.4])
def test_a_group_photo_made_smaller_keeps_every_face(analyser, scale):
    """On frames under two tiles the whole-frame pass alone lost faces (5 of 6 at 0.9, 4 of 6 at 0.5):
    such frames are tiled finer. At 0.4 the faces are 38-51 px."""
    import cv2

    frame = read_image(shared_file("group_six_faces_01.jpg")).frame
    smaller = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    faces = analyser.analyse(smaller)
    assert len(faces) == 6 and all(face.mesh is not None for face in faces), [round(f.score, 2) for f in faces]


def test_a_crowd_of_small_faces_looking_down_and_laughing_is_found(analyser):
    """A 1280x720 collage of the group photo (two women look down at their cards) and three audience frames of
    the multi-face clip (a laughing woman, a blurred man, a couple cheek to cheek): 18 faces of 40-80 px. The
    full-range model alone found 14; the close-range crowd tiles bring the women with their cards."""
    import cv2

    group = cv2.resize(read_image(shared_file("group_six_faces_01.jpg")).frame, (640, 443))[:360]
    capture = cv2.VideoCapture(str(shared_file("video_multi_face_01.mp4")))
    frames = []
    for index in range(266):
        ok, frame = capture.read()
        assert ok
        if index in (225, 250, 265):
            frames.append(cv2.resize(frame, (640, 360)))
    capture.release()
    collage = np.vstack([np.hstack([group, frames[0]]), np.hstack([frames[1], frames[2]])])
    faces = analyser.analyse(collage)
    assert 17 <= len(faces) <= 18
    for x, y in ((56, 171), (592, 171)):  # the women looking down, in the group's corner at the top left
        assert sum(_inside(face, x, y) for face in faces) == 1


def test_every_face_of_a_crowd_grid_is_found(analyser, generated):
    """A 6 x 8 grid of one 80 px face: all 48 are found, each once (the tiled pass alone missed two here, and
    a face or two in most such grids of the development portraits: 1282 of 1296 over nine faces at three
    sizes, where the crowd pass finds all 1296)."""
    import cv2

    portrait = read_image(generated["grace_hopper"]).frame
    face = max(analyser.analyse(portrait), key=lambda item: item.size)
    x1, y1, x2, y2 = face.bbox.astype(int)
    margin = int(0.35 * (x2 - x1))
    crop = portrait[max(0, y1 - margin):y2 + margin, max(0, x1 - margin):x2 + margin]
    scale = 80 / (x2 - x1)
    tile = cv2.resize(crop, (int(crop.shape[1] * scale), int(crop.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    grid = np.vstack([np.hstack([tile] * 8)] * 6)
    faces = analyser.analyse(grid)
    cells = {(int(item.centre[1] // tile.shape[0]), int(item.centre[0] // tile.shape[1])) for item in faces}
    assert len(faces) == 48 and len(cells) == 48

"""Head angles from the mesh, and the embedded engine's limit for turned faces (left alone, said, faded)."""
from __future__ import annotations

import dataclasses

import av
import numpy as np

from conftest import largest, shared_file
from facefusion.analysis.pose import head_angles
from facefusion.analysis.topology import NOSE_TIP
from facefusion.classical.swap import TURN_FADE, TURN_LIMIT, turn_strength
from facefusion.media.image import read_image
from facefusion.options import Options
from facefusion.pipeline import Job, run_to_end


def test_a_frontal_face_barely_turns_and_a_mirrored_one_turns_the_other_way(analyser, generated):
    frontal = largest(analyser.analyse(read_image(generated["astronaut"]).frame))
    angles = head_angles(frontal.mesh)
    assert abs(angles.yaw) < 15 and abs(angles.roll) < 15
    picture = read_image(shared_file("man_three_quarter_01.jpeg")).frame
    turned = head_angles(largest(analyser.analyse(picture)).mesh)
    flipped = head_angles(largest(analyser.analyse(np.ascontiguousarray(picture[:, ::-1]))).mesh)
    assert 15 < abs(turned.yaw) < 40, turned  # the development set's 3/4 view: about 20-30°
    assert np.sign(turned.yaw) == -np.sign(flipped.yaw) and abs(turned.yaw + flipped.yaw) < 6
    assert abs(turned.roll + flipped.roll) < 3


def _turned(face, degrees: float):
    """The face's mesh with its nose tip moved sideways to where a head turned ``degrees`` would show it."""
    mesh = face.mesh.copy()
    yaw = head_angles(mesh).yaw
    for _ in range(20):  # the nose tip's own place moves the middle it is measured from a little
        width = np.ptp(mesh[:, 0])
        mesh[NOSE_TIP, 0] += (np.sin(np.radians(degrees)) - np.sin(np.radians(yaw))) * width / 2
        yaw = head_angles(mesh).yaw
    return dataclasses.replace(face, mesh=mesh)


def test_the_swap_fades_out_across_the_turn_limit(analyser, generated):
    face = largest(analyser.analyse(read_image(generated["grace_hopper"]).frame))
    strengths = [turn_strength(_turned(face, degrees)) for degrees in
                 (0, TURN_LIMIT - TURN_FADE - 1, TURN_LIMIT - TURN_FADE / 2, TURN_LIMIT + 1)]
    assert strengths[0] == strengths[1] == 1.0
    assert 0.4 < strengths[2] < 0.6
    assert strengths[3] == 0.0


def test_a_profile_is_left_alone_and_the_report_names_it_with_its_angle(studio_many, tmp_path):
    target = shared_file("woman_profile_01.jpeg")
    result = studio_many.swap_image([shared_file("man_frontal_01.jpg")], target)
    assert result.faces_found == 1 and result.faces_swapped == 0
    assert np.array_equal(result.frame, read_image(target).frame)
    turned = [line for line in result.warnings if "turned about" in line]
    assert len(turned) == 1 and f"past the embedded engine's {TURN_LIMIT:.0f}° limit" in turned[0], result.warnings
    assert int(turned[0].split("turned about ")[1].split("°")[0]) >= TURN_LIMIT


def test_a_face_turned_less_than_the_limit_is_still_swapped(studio_many):
    target = shared_file("man_three_quarter_01.jpeg")
    result = studio_many.swap_image([shared_file("woman_frontal_02.jpg")], target)
    assert result.faces_swapped == 1 and not any("turned about" in line for line in result.warnings)
    assert np.abs(result.frame.astype(int) - read_image(target).frame).mean() > 1


def test_a_video_says_in_which_frames_a_turned_face_was_left(tmp_path, generated):
    picture = read_image(shared_file("woman_profile_01.jpeg")).frame[:820]
    clip = tmp_path / "profile.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = picture.shape[1], picture.shape[0], "yuv420p"
        for _ in range(12):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")))
        container.mux(stream.encode())
    result = run_to_end(Job(sources=(str(generated["astronaut"]),), target=str(clip), output=str(tmp_path / "out.mp4"),
                            resume=False), Options(face_selector_mode="many", output_watermark=False))
    assert result.faces_swapped == 0
    turned = [line for line in result.warnings if "turned past the embedded engine's limit" in line]
    assert len(turned) == 1 and "in 12 frame(s) (frames 0-11)" in turned[0], result.warnings


def test_the_neural_swapper_declines_no_turned_face(analyser, generated):
    """FaceFusion's neural swappers swap every face they are given, turned or not: so does the studio's."""
    from facefusion.processors.face_swapper import FaceSwapper

    face = _turned(largest(analyser.analyse(read_image(generated["grace_hopper"]).frame)), TURN_LIMIT + 5)
    classical = FaceSwapper(Options(face_swapper_model="landmark"))
    assert "turned about" in (classical.declines(face) or "")
    classical.model = object()  # type: ignore[assignment]  # what a loaded neural model changes
    assert classical.declines(face) is None


def test_the_report_names_the_faces_the_selector_left_out(generated):
    """Every face found and not swapped has its reason in the report: here, not chosen by the selector."""
    from facefusion import Studio

    with Studio(Options(face_selector_mode="one")) as studio:
        report = studio.swap_image([str(generated["grace_hopper"])], str(generated["two_people"]))
    assert report.faces_found == 2 and report.faces_swapped == 1
    notes = [line for line in report.warnings if "not chosen by --face-selector-mode one" in line]
    assert len(notes) == 1 and notes[0].startswith("1 other face(s) found, at (")
    with Studio(Options(face_selector_mode="many")) as studio:
        report = studio.swap_image([str(generated["grace_hopper"])], str(generated["two_people"]))
    assert not any("not chosen" in line for line in report.warnings)
    with Studio(Options(face_selector_mode="many")) as studio:
        report = studio.swap_image([], str(generated["two_people"]), face_map=[f"0={generated['grace_hopper']}"])
    assert any(line.startswith("1 other face(s) found") and "not named in --face-map" in line
               for line in report.warnings), report.warnings

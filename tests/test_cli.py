"""The command line: results, exit codes, and one-line messages for every bad input."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, shared_file
from facefusion.media.image import read_image, write_image


def run_cli(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "facefusion", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0]


def test_headless_run_writes_the_swap(tmp_path, generated):
    output = tmp_path / "out.jpg"
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output,
                     "--face-selector-mode", "many")
    assert result.returncode == 0, result.stderr
    assert "1 swapped" in result.stderr
    written = read_image(output).frame
    target = read_image(generated["grace_hopper"]).frame
    assert written.shape == target.shape
    assert np.abs(written.astype(int) - target).mean() > 1


def test_long_flags_and_debugger_processor(tmp_path, generated):
    output = tmp_path / "out.png"
    result = run_cli("headless-run", "--source-paths", generated["astronaut"], "--target-path",
                     generated["two_people"], "--output-path", output, "--processors", "face_swapper",
                     "face_debugger", "--face-selector-mode", "many")
    assert result.returncode == 0, result.stderr
    assert "2 face(s) found, 2 selected, 2 swapped" in result.stderr


def test_help_documents_every_flag_with_default_and_choices():
    from facefusion.options import option_specs

    result = run_cli("headless-run", "-h")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for spec in option_specs().values():
        assert spec.flag in text
    assert "default: reference" in text and "choices: many, one, reference" in text
    assert "exit codes" in text


def test_no_face_in_source(tmp_path, generated):
    result = run_cli("headless-run", "-s", generated["no_face"], "-t", generated["grace_hopper"], "-o",
                     tmp_path / "out.jpg")
    assert_one_line_error(result, 2, "no face found in source image", str(generated["no_face"]))
    assert not (tmp_path / "out.jpg").exists()


def test_missing_file(tmp_path, generated):
    result = run_cli("headless-run", "-s", tmp_path / "nobody.jpg", "-t", generated["grace_hopper"], "-o",
                     tmp_path / "out.jpg")
    assert_one_line_error(result, 2, "file not found", "nobody.jpg")


def test_corrupt_file(tmp_path, generated):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", corrupt, "-o", tmp_path / "out.jpg")
    assert_one_line_error(result, 2, "cannot read image", "corrupt.jpg")


def test_empty_file(tmp_path, generated):
    empty = tmp_path / "empty.png"
    empty.touch()
    result = run_cli("headless-run", "-s", empty, "-t", generated["grace_hopper"], "-o", tmp_path / "out.jpg")
    assert_one_line_error(result, 2, "file is empty", "empty.png")


def test_unsupported_files(tmp_path, generated):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", notes, "-o", tmp_path / "out.jpg")
    assert_one_line_error(result, 2, "unsupported target type", "notes.txt")
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o",
                     tmp_path / "out.gif")
    assert_one_line_error(result, 2, "unsupported output type", "out.gif")


def test_huge_image_is_refused(tmp_path, generated):
    huge = tmp_path / "huge.png"
    Image.new("RGB", (11000, 10000), (128, 128, 128)).save(huge, compress_level=1)
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", huge, "-o", tmp_path / "out.jpg")
    assert_one_line_error(result, 2, "image too large", "huge.png")


@pytest.mark.parametrize("size", [(1, 60000), (60000, 1)])
def test_a_one_pixel_wide_target_is_written_and_reported_as_written(tmp_path, generated, size):
    """Its preview once shrank to zero pixels: exit 1 after the output had been written."""
    thin = tmp_path / "thin.png"
    Image.new("RGB", size, (128, 128, 128)).save(thin)
    output = tmp_path / "out.png"
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", thin, "-o", output)
    assert result.returncode == 0, result.stderr
    assert "no face found in target image" in result.stderr and "Traceback" not in result.stderr
    assert read_image(output).frame.shape[:2] == (size[1], size[0])


def test_target_without_face_is_written_unchanged_with_a_warning(tmp_path, generated):
    output = tmp_path / "out.png"
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["no_face"], "-o", output)
    assert result.returncode == 0
    assert "no face found in target image" in result.stderr
    assert np.array_equal(read_image(output).frame, read_image(generated["no_face"]).frame)


def test_output_may_not_be_an_input_and_inputs_are_never_modified(tmp_path, generated):
    target = tmp_path / "target.jpg"
    shutil.copy(generated["grace_hopper"], target)
    before = target.read_bytes()
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", target, "-o", target)
    assert_one_line_error(result, 2, "output path is an input file")
    assert target.read_bytes() == before


def test_existing_output_is_replaced_whole(tmp_path, generated):
    output = tmp_path / "out.jpg"
    output.write_bytes(b"old")
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output,
                     "--face-selector-mode", "many")
    assert result.returncode == 0
    assert read_image(output).frame.shape[:2] == (600, 512)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], "no temporary file left"


def test_missing_output_folder(tmp_path, generated):
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o",
                     tmp_path / "no" / "such" / "out.jpg")
    assert_one_line_error(result, 2, "output folder does not exist")


def test_output_that_is_a_folder_gets_an_example_file_name(tmp_path, generated):
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", tmp_path)
    assert_one_line_error(result, 2, f"output path is a folder: {tmp_path}; give a file name in it, e.g. ")


@pytest.mark.parametrize("args, fragment", [
    (["--face-selector-mode", "all"], "invalid choice"),
    (["--face-mask-blur", "3"], "--face-mask-blur"),
    (["--face-swapper-morph", "many"], "invalid int value"),
    (["--face-mask-padding", "1", "2", "3", "4", "5"], "at most 4"),
    (["--face-map", "alice.jpg"], "is not KEY=SOURCE"),
])
def test_odd_options(tmp_path, generated, args, fragment):
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o",
                     tmp_path / "out.jpg", *args)
    assert_one_line_error(result, 2, fragment)


def test_no_source_at_all(tmp_path, generated):
    result = run_cli("headless-run", "-t", generated["grace_hopper"], "-o", tmp_path / "out.jpg")
    assert_one_line_error(result, 2, "needs a source")


def test_reference_position_beyond_the_faces(tmp_path, generated):
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["two_people"], "-o",
                     tmp_path / "out.jpg", "--reference-face-position", "5")
    assert_one_line_error(result, 2, "--reference-face-position 5", "2 face(s)")


def test_real_photo_swap_through_cli(tmp_path):
    output = tmp_path / "out.webp"
    result = run_cli("headless-run", "-s", shared_file("man_frontal_01.jpg"), "-t",
                     shared_file("two_faces_01.jpg"), "-o", output, "--face-selector-mode", "many")
    assert result.returncode == 0, result.stderr
    assert "2 swapped" in result.stderr
    assert read_image(output).frame.shape == read_image(shared_file("two_faces_01.jpg")).frame.shape


NATIVE_NOISE_MARKS = ("W0000", "inference_feedback_manager", "TensorFlow Lite", "absl::InitializeLog")


def test_the_console_shows_no_native_library_chatter(generated, tmp_path):
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o",
                     tmp_path / "out.jpg")
    assert result.returncode == 0, result.stderr
    assert "1 swapped" in result.stderr
    assert not any(mark in result.stderr for mark in NATIVE_NOISE_MARKS), result.stderr


def test_the_native_log_filter_drops_chatter_and_passes_everything_else():
    """What app.py installs: mediapipe's lines are dropped, Python's messages and other native output kept."""
    script = (
        "import os, sys, numpy as np\n"
        "from facefusion.console import quiet_native_logs\n"
        "quiet_native_logs()\n"
        "from facefusion.analysis.analyse import FaceAnalyser\n"
        "analyser = FaceAnalyser(); analyser.warm_up(); analyser.analyse(np.zeros((64, 64, 3), np.uint8))\n"
        "os.write(2, b'native: something the user must see\\n')\n"
        "print('python: a warning', file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "native: something the user must see" in result.stderr and "python: a warning" in result.stderr
    assert not any(mark in result.stderr for mark in NATIVE_NOISE_MARKS), result.stderr
    unfiltered = subprocess.run([sys.executable, "-c", script.replace("quiet_native_logs()\n", "")], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
    assert any(mark in unfiltered.stderr for mark in NATIVE_NOISE_MARKS), "the chatter this test expects is gone"


def test_a_reference_photo_without_a_face_is_refused(tmp_path, generated):
    blank = write_image(tmp_path / "wall.png", np.full((200, 300, 3), 140, np.uint8))
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"],
                     "-o", tmp_path / "out.jpg", "--face-selector-mode", "reference", "--reference-face-path", blank)
    assert_one_line_error(result, 2, "no face in reference image", "wall.png")
    assert not (tmp_path / "out.jpg").exists()


def test_a_face_map_position_with_no_face_is_reported(tmp_path, generated):
    output = tmp_path / "out.jpg"
    result = run_cli("headless-run", "-t", generated["grace_hopper"], "-o", output,
                     "--face-map", f"0={generated['astronaut']}", f"99={generated['astronaut']}")
    assert result.returncode == 0, result.stderr
    assert "--face-map position(s) 99 match no face: the target has 1 face(s)" in result.stderr
    assert "1 swapped" in result.stderr and output.is_file()


def test_facefusions_older_flag_names_work(tmp_path, generated):
    output = tmp_path / "out.jpg"
    result = run_cli("headless-run", "--source", generated["astronaut"], "--target", generated["grace_hopper"],
                     "--output", output, "--execution-provider", "cpu", "--frame-processors", "face_swapper",
                     "--face-selector-mode", "many")
    assert result.returncode == 0, result.stderr
    assert "1 swapped" in result.stderr and output.is_file()

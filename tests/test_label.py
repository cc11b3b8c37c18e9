"""The visible label: where it is drawn, what it leaves alone, and when it is on."""
from __future__ import annotations

import av
import numpy as np
import pytest

from facefusion import Options
from facefusion.errors import InvalidInputError
from facefusion.media.image import read_image
from facefusion.options import make_options
from facefusion.safety.label import LabelPainter, label_painter
from test_cli import run_cli


def changed_box(before: np.ndarray, after: np.ndarray, threshold: int = 12) -> tuple[int, int, int, int] | None:
    """(x1, y1, x2, y2) around the pixels that changed by more than ``threshold``."""
    rows, columns = np.nonzero(np.abs(before.astype(int) - after.astype(int)).max(axis=2) > threshold)
    if not rows.size:
        return None
    return int(columns.min()), int(rows.min()), int(columns.max()) + 1, int(rows.max()) + 1


@pytest.mark.parametrize("position", ["bottom-right", "bottom-left", "top-right", "top-left"])
def test_the_label_darkens_only_its_corner_and_its_text_is_white(position):
    picture = np.full((720, 1280, 3), 200, np.uint8)
    drawn = LabelPainter("AI-generated", position, size=4, opacity=100).draw(picture)
    x1, y1, x2, y2 = changed_box(picture, drawn)
    assert (x1 < 640) == position.endswith("left") and (y1 < 360) == position.startswith("top")
    assert x2 - x1 < 400 and 25 < y2 - y1 < 70  # text height 4 % of 720 px plus the padding
    box = drawn[y1:y2, x1:x2]
    assert box.min() < 100 and box.max() == 255  # the box's black and the text's white
    outside = np.ones(picture.shape[:2], bool)
    outside[y1:y2, x1:x2] = False
    assert np.array_equal(drawn[outside], picture[outside])
    assert np.array_equal(picture, np.full((720, 1280, 3), 200, np.uint8))  # the input is not drawn on


def test_opacity_zero_changes_nothing_and_a_picture_too_small_is_left_alone():
    picture = np.full((300, 400, 3), 90, np.uint8)
    assert np.array_equal(LabelPainter("AI-generated", opacity=0).draw(picture), picture)
    tiny = np.full((20, 30, 3), 90, np.uint8)
    assert LabelPainter("AI-generated", size=20).draw(tiny) is tiny


def test_no_label_unless_asked_and_long_texts_are_refused():
    assert label_painter(Options()) is None
    assert label_painter(Options(output_label="  ")) is None
    with pytest.raises(InvalidInputError, match="--output-label: give at most 60 characters"):
        make_options(output_label="x" * 61)


def test_the_cli_burns_the_label_into_an_image(tmp_path, generated):
    plain, labelled = tmp_path / "plain.png", tmp_path / "labelled.png"
    common = ["-s", generated["astronaut"], "-t", generated["grace_hopper"], "--face-selector-mode", "many",
              "--no-output-watermark"]
    assert run_cli("headless-run", *common, "-o", plain).returncode == 0
    result = run_cli("headless-run", *common, "-o", labelled, "--output-label", "AI-generated",
                     "--output-label-position", "top-left", "--output-label-size", "5")
    assert result.returncode == 0, result.stderr
    before, after = read_image(plain).frame, read_image(labelled).frame
    x1, y1, x2, y2 = changed_box(before, after)
    height, width = before.shape[:2]
    assert x2 < width / 2 and y2 < height / 4  # only the top-left corner
    assert after[y1:y2, x1:x2].max() >= 250


def test_every_video_frame_carries_the_label(tmp_path):
    from sample_media import grace_hopper, make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=12, size=(480, 270), face_width=110, audio=False)
    plain, labelled = tmp_path / "plain.mp4", tmp_path / "labelled.mp4"
    common = ["-s", grace_hopper(), "-t", clip, "--no-output-watermark", "--output-video-quality", "95"]
    assert run_cli("headless-run", *common, "-o", plain).returncode == 0
    result = run_cli("headless-run", *common, "-o", labelled, "--output-label", "AI-generated")
    assert result.returncode == 0, result.stderr
    with av.open(str(plain)) as first, av.open(str(labelled)) as second:
        pairs = list(zip(first.decode(video=0), second.decode(video=0)))
    assert len(pairs) == 12
    for before, after in pairs:
        x1, y1, x2, y2 = changed_box(before.to_ndarray(format="bgr24"), after.to_ndarray(format="bgr24"), 40)
        assert x1 > 240 and y1 > 200  # the bottom-right corner of 480x270


def test_the_app_labels_by_default_only_when_others_can_reach_it():
    import app

    assert app.parse_args([]).output_label == ""
    for exposed in (["--share"], ["--server-name", "0.0.0.0"]):
        assert app.parse_args(exposed).output_label == "AI-generated"
    assert app.parse_args(["--share", "--output-label", ""]).output_label == ""
    assert app.parse_args(["--output-label", "Synthetic"]).output_label == "Synthetic"

"""The invisible watermark: coded payload, robustness, every output marked, `facefusion inspect`."""
from __future__ import annotations

import json

import av
import cv2
import numpy as np
import pytest

from conftest import shared_file
from facefusion.media.image import read_image
from facefusion.safety import watermark
from facefusion.safety.watermark import VideoMarker, Watermarker, decode_half, encode_half, reading_of
from test_cli import run_cli

FIXED_IDS = (0x5A5A5, 0x0BEEF)
"""Output ids for the robustness checks (a run draws its own at random; how often a random one survives
each change is measured in the closing note of the work that added this)."""


@pytest.fixture(scope="module")
def marker() -> Watermarker:
    return Watermarker(threads=0)


def _jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


def _halved(frame: np.ndarray) -> np.ndarray:
    return cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)


def _cut(frame: np.ndarray, share: float = 0.1) -> np.ndarray:
    height, width = frame.shape[:2]
    return frame[int(height * share):int(height * (1 - share)), int(width * share):int(width * (1 - share))]


def test_each_half_mends_three_wrong_bits_and_no_more_is_claimed():
    rng = np.random.default_rng(4)
    for value in rng.integers(0, 1 << 16, 40):
        logits = (encode_half(int(value)) * 2 - 1) * 6.0  # a set bit reads positive
        wrong = rng.choice(32, 3, replace=False)
        logits[wrong] *= -1
        decoded, errors = decode_half(logits)
        assert decoded == value and errors == 3
    # Logits that carry nothing do not read as the product's mark.
    false_marks = sum(reading_of(rng.normal(0, 5, 32), rng.normal(0, 5, 32)).marked for _ in range(2000))
    assert false_marks <= 2


def test_a_marked_picture_keeps_its_id_through_jpeg_halving_webp_and_a_cut(marker, generated):
    for name, output_id in zip(("astronaut", "grace_hopper"), FIXED_IDS):
        picture = read_image(generated[name]).frame
        marked = marker.mark(picture, output_id)
        assert cv2.PSNR(picture, marked) > 38, "the mark must not show"
        webp = cv2.imdecode(cv2.imencode(".webp", marked, [cv2.IMWRITE_WEBP_QUALITY, 75])[1], cv2.IMREAD_COLOR)
        for label, changed in (("as written", marked), ("jpeg 70 at half size", _jpeg(_halved(marked), 70)),
                               ("webp", webp), ("10 % cut at every edge", _cut(marked))):
            reading = marker.read([changed])
            assert reading.marked and reading.output_id == output_id, (name, label, reading)
        assert not marker.read([picture]).marked, f"{name} unmarked reads as marked"


def test_real_photos_keep_their_mark(marker):
    for name, output_id in zip(("woman_frontal_02.jpg", "man_three_quarter_01.jpeg"), FIXED_IDS):
        picture = read_image(shared_file(name)).frame
        marked = marker.mark(picture, output_id)
        for changed in (_jpeg(_halved(marked), 70), _cut(marked)):
            assert marker.read([changed]).output_id == output_id, name
        assert not marker.read([picture]).marked


def _write_clip(path, frames: list[np.ndarray], crf: int, fps: int = 30) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _frames_of(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def test_a_marked_video_keeps_its_id_after_h264_crf_28_whole_in_3_s_excerpts_and_halved(tmp_path):
    frames = _frames_of(shared_file("video_720p_woman_01.mp4"))
    output_id = watermark.new_output_id()
    video_marker = VideoMarker(output_id)
    marked = [video_marker.mark(frame) for frame in frames]
    assert cv2.PSNR(frames[0], marked[0]) > 40, "the mark must not show"
    _write_clip(tmp_path / "crf28.mp4", marked, 28)
    again = _frames_of(tmp_path / "crf28.mp4")
    assert watermark.read_pattern(again[::12]).output_id == output_id
    for start in (0, 100, 190):
        excerpt = marked[start:start + 90]
        _write_clip(tmp_path / "excerpt.mp4", excerpt, 28)
        assert watermark.read_pattern(_frames_of(tmp_path / "excerpt.mp4")[::4]).output_id == output_id, start
    _write_clip(tmp_path / "half.mp4", [_halved(frame) for frame in marked], 28)
    assert watermark.read_pattern(_frames_of(tmp_path / "half.mp4")[::12]).output_id == output_id
    assert not watermark.read_pattern(frames[::12]).marked


def _still_clip(picture: np.ndarray, short_side: int, frames: int = 90) -> list[np.ndarray]:
    """A talking head that hardly moves: a photo drifting by a pixel or two, with sensor noise. Its busy
    texture does not average away over frames, which is what makes a still pattern hard to read."""
    scale = short_side / min(picture.shape[:2])
    size = (round(picture.shape[1] * scale / 2) * 2, round(picture.shape[0] * scale / 2) * 2)
    picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    noise = np.random.default_rng(3)
    clip = []
    for index in range(frames):
        shift = np.float32([[1, 0, 1.5 * np.sin(index / 20)], [0, 1, np.cos(index / 27)]])
        moved = cv2.warpAffine(picture, shift, size, borderMode=cv2.BORDER_REFLECT)
        clip.append(np.clip(moved + noise.normal(0, 2, moved.shape), 0, 255).astype(np.uint8))
    return clip


def test_a_still_busy_clip_keeps_every_id_through_crf_28_down_to_480_px(tmp_path):
    """A still group photo (many faces, hair, clothes: busy everywhere) lost every id through CRF 28 before
    the reading weighted each cell by its local residual power."""
    picture = read_image(shared_file("group_six_faces_01.jpg")).frame
    for side in (680, 480):
        frames = _still_clip(picture, side)
        for output_id in (watermark.new_output_id(), watermark.new_output_id()):
            marker = VideoMarker(output_id)
            _write_clip(tmp_path / "still.mp4", [marker.mark(frame) for frame in frames], 28)
            again = _frames_of(tmp_path / "still.mp4")
            assert watermark.read_pattern(again[::4]).output_id == output_id, (side, output_id)
        _write_clip(tmp_path / "plain.mp4", frames, 28)
        assert not watermark.read_pattern(_frames_of(tmp_path / "plain.mp4")[::4]).marked


def test_a_still_taken_from_a_marked_video_reads_as_marked(marker, generated):
    picture = read_image(generated["grace_hopper"]).frame
    still = _jpeg(VideoMarker(FIXED_IDS[0]).mark(picture), 90)
    assert marker.read([still]).output_id == FIXED_IDS[0]


def test_an_output_image_is_marked_with_the_id_its_run_logged_and_inspect_says_so(tmp_path, generated):
    output = tmp_path / "out.png"
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output)
    assert result.returncode == 0, result.stderr
    logged = result.stderr.split("watermark id ")[1].split(",")[0]
    inspected = run_cli("inspect", output, "--json")
    assert inspected.returncode == 0, inspected.stdout + inspected.stderr
    report = json.loads(inspected.stdout)
    assert report["marked"] and report["watermark_id"] == logged
    assert report["metadata"]["software"] == "facefusion-studio"
    # The original is not marked (exit 1), and a file that is not a picture cannot be read (exit 2).
    original = run_cli("inspect", generated["grace_hopper"])
    assert original.returncode == 1 and "watermark: none found" in original.stdout
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a picture at all")
    unreadable = run_cli("inspect", junk)
    assert unreadable.returncode == 2 and unreadable.stderr.startswith("error: ")


def test_without_the_watermark_option_nothing_is_hidden(tmp_path, generated):
    output = tmp_path / "plain.png"
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output,
                     "--no-output-watermark")
    assert result.returncode == 0 and "watermark id" not in result.stderr
    assert run_cli("inspect", output).returncode == 1


def test_an_output_video_is_marked_and_survives_a_re_encode(marker, tmp_path):
    """The run's own mark, read by `inspect` as written and after an H.264 re-encode at CRF 28, on a clip
    that moves much faster than most footage. The id is given, as a service may give its own."""
    from facefusion.options import Options
    from facefusion.pipeline import Job, run_to_end
    from facefusion.safety.inspect import inspect_file
    from sample_media import grace_hopper, make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=60)
    output = tmp_path / "out.mp4"
    result = run_to_end(Job(sources=(str(grace_hopper()),), target=str(clip), output=str(output), resume=False,
                            watermark_id=watermark.new_output_id()), Options(face_selector_mode="many"))
    inspection = inspect_file(output, marker)
    assert inspection.kind == "video" and inspection.marked and inspection.watermark_id == result.watermark_id
    _write_clip(tmp_path / "again.mp4", _frames_of(output), 28)
    assert inspect_file(tmp_path / "again.mp4", marker).watermark_id == result.watermark_id


def test_a_video_run_logs_its_watermark_id(tmp_path):
    from sample_media import grace_hopper, make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=20)
    result = run_cli("headless-run", "-s", grace_hopper(), "-t", clip, "-o", tmp_path / "out.mp4")
    assert result.returncode == 0, result.stderr
    logged = result.stderr.split("watermark id ")[1].split()[0].rstrip(",")
    assert len(logged) == 5 and int(logged, 16) < 1 << watermark.ID_BITS


def test_a_resumed_run_keeps_the_watermark_id_of_the_run_it_continues(tmp_path):
    from facefusion.parts import WorkFolder

    output = tmp_path / "out.mp4"
    first = WorkFolder(output, "same inputs", resume=True)
    kept = first.watermark_id
    first.release()
    again = WorkFolder(output, "same inputs", resume=True)
    assert again.watermark_id == kept
    again.release()
    other = WorkFolder(output, "other inputs", resume=True)
    assert 0 <= other.watermark_id < 1 << watermark.ID_BITS
    other.release()

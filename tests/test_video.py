"""Videos: frames, timing, audio, rotation, trim, failures, stop and resume."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import ROOT, shared_file
from facefusion.errors import InvalidInputError, StoppedError
from facefusion.media.video import available_encoders, probe_video
from facefusion.options import Options
from facefusion.pipeline import Job, Progress, RunResult, run, run_to_end
from sample_media import grace_hopper, make_clip

OPTIONS = Options(face_selector_mode="many", output_watermark=False)
"""Without the watermark: these tests compare the frames of runs with different outputs, and each output
carries its own watermark id (tests/test_watermark.py checks the mark, and that a resumed run keeps it)."""


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    small = dict(size=(640, 360), face_width=110)
    return {
        "plain": make_clip(folder / "plain.mp4", frames=60, **small),
        "silent": make_clip(folder / "silent.mp4", frames=30, audio=False, **small),
        "rotated": make_clip(folder / "rotated.mp4", frames=30, rotation=90, **small),
        "variable": make_clip(folder / "variable.mp4", frames=40, variable_rate=True, **small),
        "long": make_clip(folder / "long.mp4", frames=90, **small),
        # Long enough that a run is still going when the tests stop or kill it.
        "kill": make_clip(folder / "kill.mp4", frames=300, **small),
    }


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def stream_layout(path: Path) -> dict[str, tuple[float, float]]:
    """Per stream type: (start, end) in seconds."""
    layout = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            last = max(float((packet.pts + (packet.duration or 0)) * stream.time_base)
                       for packet in container.demux(stream) if packet.pts is not None)
            container.seek(0)
            layout[stream.type] = (start, last)
    return layout


def swap(clip: Path, output: Path, options: Options = OPTIONS, **job: object) -> RunResult:
    return run_to_end(Job(sources=(str(grace_hopper()),), target=str(clip), output=str(output), **job), options)


def assert_face_changed_background_kept(source: Path, output: Path) -> None:
    before, after = decoded_frames(source), decoded_frames(output)
    assert len(before) == len(after)
    for index in (0, len(before) // 2, len(before) - 1):
        difference = np.abs(before[index].astype(int) - after[index]).mean(axis=2)
        height, width = difference.shape
        corners = np.concatenate([difference[:height // 6, :width // 6].ravel(), difference[-height // 6:, -width // 6:].ravel()])
        assert corners.mean() < 3, "the background changed"
        assert difference.max() > 40 and (difference > 20).sum() > 200, "the face did not change"


def test_frames_duration_audio_and_face(tmp_path, clips):
    output = tmp_path / "out.mp4"
    result = swap(clips["plain"], output)
    source, made = probe_video(clips["plain"]), probe_video(output)
    assert made.frame_count == source.frame_count == result.frames
    assert abs(made.duration - source.duration) <= 1 / source.fps
    assert made.audio_streams == 1
    layout_in, layout_out = stream_layout(clips["plain"]), stream_layout(output)
    assert abs(layout_out["audio"][1] - layout_in["audio"][1]) < 0.05
    assert abs((layout_out["audio"][0] - layout_out["video"][0]) - (layout_in["audio"][0] - layout_in["video"][0])) < 0.03
    assert result.faces_swapped == source.frame_count and not result.failed_frames
    assert_face_changed_background_kept(clips["plain"], output)
    assert not output.with_name(output.name + ".parts").exists()
    with av.open(str(output)) as container:
        comment = container.metadata.get("comment", "")
    assert comment.startswith(result.engine), "the file says which engine made it"
    assert comment.endswith("IPTC digital source type: composite"), "and how (the offline engine composites)"


def test_real_talking_head(tmp_path):
    clip = shared_file("video_talking_man_01.mp4")
    output = tmp_path / "talk.mp4"
    result = swap(clip, output)
    source, made = probe_video(clip), probe_video(output)
    assert made.frame_count == source.frame_count == 125
    assert abs(made.duration - source.duration) <= 1 / source.fps
    assert made.audio_streams == 1
    assert result.faces_swapped >= 120
    assert_face_changed_background_kept(clip, output)


def _head(clip: Path, output: Path, seconds: float) -> Path:
    """The first ``seconds`` of a clip, its packets copied as they are (start times and offsets kept)."""
    with av.open(str(clip)) as source, av.open(str(output), "w") as copy:
        streams = {stream.index: copy.add_stream_from_template(stream) for stream in source.streams
                   if stream.type in ("video", "audio")}
        for packet in source.demux(*[source.streams[index] for index in streams]):
            if packet.dts is None or packet.dts * packet.time_base > seconds:
                continue
            packet.stream = streams[packet.stream.index]
            copy.mux(packet)
    return output


def test_real_clip_with_late_video_keeps_audio_sync(tmp_path):
    # The real clip's first 3 s (about 65 of its 275 frames): its audio starts 0.85 s before its video.
    clip = _head(shared_file("video_multi_face_01.mp4"), tmp_path / "head.mp4", 3.0)
    output = tmp_path / "multi.mkv"
    swap(clip, output)
    source, made = probe_video(clip), probe_video(output)
    assert made.frame_count == source.frame_count and source.frame_count > 50
    layout_in, layout_out = stream_layout(clip), stream_layout(output)
    # The video starts 0.85 s after the audio in the target; so it must in the output.
    offset_in = layout_in["video"][0] - layout_in["audio"][0]
    offset_out = layout_out["video"][0] - layout_out["audio"][0]
    assert offset_in > 0.8 and abs(offset_out - offset_in) < 1 / source.fps


def test_trim(tmp_path, clips):
    output = tmp_path / "trim.mp4"
    result = swap(clips["plain"], output, Options(face_selector_mode="many", output_watermark=False, trim_frame_start=10,
                                                  trim_frame_end=40))
    made = probe_video(output)
    assert result.frames == made.frame_count == 30
    assert abs(made.duration - 1.0) < 0.05
    start, end = stream_layout(output)["audio"]
    assert start < 0.05 and abs(end - 1.0) < 0.1
    assert np.abs(decoded_frames(output)[0].astype(int)[:40, :40] - decoded_frames(clips["plain"])[10][:40, :40]).mean() < 3


def test_target_without_audio(tmp_path, clips):
    output = tmp_path / "silent.mp4"
    result = swap(clips["silent"], output)
    assert probe_video(output).audio_streams == 0
    assert any("no audio" in warning for warning in result.warnings)


def _audio_rms(path: Path) -> float:
    with av.open(str(path)) as container:
        samples = np.concatenate([frame.to_ndarray().astype(np.float64).ravel()
                                  for frame in container.decode(audio=0)])
    return float(np.sqrt(np.mean(samples ** 2)))


@pytest.mark.parametrize("container", [".mp4", ".webm"])
def test_audio_volume_scales_the_soundtrack_or_leaves_it_out(tmp_path, clips, container):
    half = tmp_path / f"half{container}"
    encoder = "libvpx-vp9" if container == ".webm" else "libx264"
    result = swap(clips["plain"], half, OPTIONS.replace(output_audio_volume=50, output_video_encoder=encoder))
    assert probe_video(half).audio_streams == 1 and not result.warnings
    assert _audio_rms(half) == pytest.approx(_audio_rms(clips["plain"]) * 0.5, rel=0.1)
    layout_in, layout_out = stream_layout(clips["plain"]), stream_layout(half)
    assert abs(layout_out["audio"][1] - layout_in["audio"][1]) < 0.05, "the soundtrack keeps its length"
    mute = tmp_path / f"mute{container}"
    result = swap(clips["plain"], mute, OPTIONS.replace(output_audio_volume=0, output_video_encoder=encoder))
    assert probe_video(mute).audio_streams == 0 and not result.warnings, "volume 0 leaves the audio out, quietly"


def test_rotated_phone_clip_comes_out_upright_and_swapped(tmp_path, clips):
    output = tmp_path / "rotated.mp4"
    result = swap(clips["rotated"], output)
    made = probe_video(output)
    assert (made.width, made.height) == (360, 640)
    assert made.rotation == 0
    assert result.faces_swapped == 30


def test_variable_frame_rate_timestamps_are_kept(tmp_path, clips):
    output = tmp_path / "vfr.mkv"
    swap(clips["variable"], output)
    source, made = probe_video(clips["variable"]), probe_video(output)
    gaps_in = np.diff([source.frame_time(i) for i in range(source.frame_count)])
    gaps_out = np.diff([made.frame_time(i) for i in range(made.frame_count)])
    assert made.frame_count == source.frame_count
    assert len(set(np.round(gaps_in, 3))) == 2, "the test clip should be variable-rate"
    assert np.abs(gaps_in - gaps_out).max() < 0.002


def test_output_fps_resamples(tmp_path, clips):
    output = tmp_path / "fps15.mp4"
    result = swap(clips["plain"], output, Options(face_selector_mode="many", output_watermark=False, output_video_fps=15))
    source, made = probe_video(clips["plain"]), probe_video(output)
    assert made.frame_count == source.frame_count // 2
    assert abs(made.duration - source.duration) < 0.1
    # What the user gets is said in numbers (1 fps on a short clip is a single frame).
    assert "--output-video-fps 15: 30 frame(s) for 2.0 s (the target has 30 fps)" in result.warnings


@pytest.mark.parametrize("extension", [".mov", ".webm"])
def test_other_containers(tmp_path, clips, extension):
    output = tmp_path / f"out{extension}"
    swap(clips["silent"], output)
    assert probe_video(output).frame_count == 30


HARDWARE_ENCODERS = ("h264_nvenc", "hevc_nvenc")


@pytest.mark.parametrize("encoder", available_encoders())
def test_every_offered_encoder_writes_a_playable_file(tmp_path, clips, encoder):
    """Each encoder the option offers ends in a file with every frame and the audio (the assembly once
    named AV1's stream after its decoder, libdav1d, and failed); a hardware encoder without its device
    is refused with a readable message instead."""
    output = tmp_path / "out.mp4"
    options = Options(face_selector_mode="many", output_watermark=False, output_video_encoder=encoder,
                      trim_frame_end=12)
    if encoder in HARDWARE_ENCODERS:
        try:
            swap(clips["plain"], output, options)
        except InvalidInputError as error:
            assert encoder in str(error) and not output.exists()
            return
    else:
        swap(clips["plain"], output, options)
    assert len(decoded_frames(output)) == 12
    with av.open(str(output)) as container:
        assert len(container.streams.audio) == 1


def test_scale_option(tmp_path, clips):
    output = tmp_path / "half.mp4"
    swap(clips["silent"], output, Options(face_selector_mode="many", output_watermark=False, output_video_scale=0.5))
    made = probe_video(output)
    assert (made.width, made.height) == (320, 180)


def test_a_failing_frame_is_kept_and_reported(tmp_path, clips, monkeypatch):
    from facefusion.processors import face_swapper

    original = face_swapper.FaceSwapper.process
    calls = {"count": 0}

    def flaky(self, frame, context):
        calls["count"] += 1
        if calls["count"] == 5:
            raise RuntimeError("simulated failure")
        return original(self, frame, context)

    monkeypatch.setattr(face_swapper.FaceSwapper, "process", flaky)
    output = tmp_path / "flaky.mp4"
    result = swap(clips["silent"], output)
    assert len(result.failed_frames) == 1
    assert probe_video(output).frame_count == 30


def test_progress_has_totals_fps_eta_and_previews(tmp_path, clips):
    events = list(run(Job(sources=(str(grace_hopper()),), target=str(clips["silent"]), output=str(tmp_path / "p.mp4")),
                      OPTIONS))
    progress = [event for event in events if isinstance(event, Progress)]
    assert [event.frame for event in progress] == list(range(1, 31))
    assert all(event.total == 30 and event.fps > 0 for event in progress)
    assert progress[-1].eta == 0 and progress[-1].preview is not None
    assert isinstance(events[-1], RunResult)


@pytest.fixture(scope="module")
def long_whole(tmp_path_factory, clips) -> tuple[Path, RunResult]:
    """The "long" clip run without a stop, in 20-frame segments: what every resumed run must equal."""
    reference = tmp_path_factory.mktemp("whole") / "whole.mp4"
    return reference, swap(clips["long"], reference, segment_frames=20)


def test_stop_then_resume_gives_the_same_frames(tmp_path, clips, long_whole):
    reference, _ = long_whole
    output = tmp_path / "resumed.mp4"
    stop = threading.Event()
    job = Job(sources=(str(grace_hopper()),), target=str(clips["long"]), output=str(output), segment_frames=20)
    with pytest.raises(StoppedError):
        for event in run(job, OPTIONS, stop):
            if isinstance(event, Progress) and event.frame == 50:
                stop.set()
    assert not output.exists(), "a stopped run must leave nothing under the output name"
    parts = output.with_name(output.name + ".parts")
    assert sorted(path.name for path in parts.glob("segment_*.mkv")) == ["segment_00000.mkv", "segment_00001.mkv"]
    result = run_to_end(job, OPTIONS)
    assert result.resumed_from == 40
    whole, resumed = decoded_frames(reference), decoded_frames(output)
    assert len(whole) == len(resumed) == 90
    assert all(np.array_equal(a, b) for a, b in zip(whole, resumed))


def _stopped_at(job: Job, frame: int) -> Path:
    stop = threading.Event()
    with pytest.raises(StoppedError):
        for event in run(job, OPTIONS, stop):
            if isinstance(event, Progress) and event.frame == frame:
                stop.set()
    return Path(job.output).with_name(Path(job.output).name + ".parts")


@pytest.mark.parametrize("damage", ["cut", "missing", "record"])
def test_a_damaged_segment_is_rendered_again_on_resume(tmp_path, clips, long_whole, damage):
    """Resume once trusted any segment file: one cut to half its size gave exit 0 and a short video."""
    reference, whole_result = long_whole
    output = tmp_path / "resumed.mp4"
    job = Job(sources=(str(grace_hopper()),), target=str(clips["long"]), output=str(output), segment_frames=20)
    parts = _stopped_at(job, 65)
    assert sorted(path.name for path in parts.glob("segment_*.mkv"))[:3] == [
        "segment_00000.mkv", "segment_00001.mkv", "segment_00002.mkv"]
    segment = parts / "segment_00001.mkv"
    if damage == "cut":
        segment.write_bytes(segment.read_bytes()[:segment.stat().st_size // 2])
    elif damage == "missing":
        segment.unlink()
    else:
        (parts / "segment_00001.json").write_text("{not json")
    result = run_to_end(job, OPTIONS)
    assert result.resumed_from == 20
    whole, resumed = decoded_frames(reference), decoded_frames(output)
    assert len(whole) == len(resumed) == 90
    assert all(np.array_equal(a, b) for a, b in zip(whole, resumed))
    # The report counts the swaps of the segments made before the stop too.
    assert result.faces_swapped == whole_result.faces_swapped == 90
    assert not parts.exists()


def _cli(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "facefusion", *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_segments(parts: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if len(list(parts.glob("segment_*.mkv"))) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("the run did not write its first segments in time")


def test_a_second_run_writing_the_same_output_is_refused(tmp_path, clips):
    """Two runs once wrote one file together (one identity's segments in the other's video)."""
    output = tmp_path / "shared.mp4"
    first = _cli("headless-run", "-s", grace_hopper(), "-t", clips["kill"], "-o", output, "--no-output-watermark",
                 "--face-selector-mode", "many", "--video-segment-frames", "15")
    try:
        _wait_for_segments(output.with_name(output.name + ".parts"), 1, first)
        second = subprocess.run([sys.executable, "-m", "facefusion", "headless-run", "-s", clips_source(),
                                 "-t", clips["kill"], "-o", output], cwd=ROOT, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 2, second.stderr
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and f"process {first.pid}" in lines[0] and "is writing" in lines[0], lines
        assert first.poll() is None, "the first run goes on"
    finally:
        first.kill()
        first.wait()


def clips_source() -> Path:
    from sample_media import astronaut

    return astronaut()


def _kill_when(process: subprocess.Popen[str], ready: Callable[[], bool]) -> bool:
    """Kill ``process`` as soon as ``ready()``; False when it ended first."""
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if ready():
            process.kill()
            process.wait()
            return True
        time.sleep(0.002)
    process.wait()
    return False


def _kill_arguments(clips: dict[str, Path]) -> list[object]:
    return ["headless-run", "-s", grace_hopper(), "-t", clips["long"], "--face-selector-mode", "many",
            "--no-output-watermark", "--video-segment-frames", "20"]


@pytest.fixture(scope="module")
def cli_whole(tmp_path_factory, clips) -> Path:
    """The command's uninterrupted run of the "long" clip, which each killed and resumed run must equal."""
    reference = tmp_path_factory.mktemp("cli_whole") / "whole.mp4"
    assert _cli(*_kill_arguments(clips), "-o", reference).wait(timeout=300) == 0
    return reference


@pytest.mark.parametrize("moment", ["decoding", "segments", "assembly"])
def test_a_run_killed_at_any_point_resumes_to_the_same_video(tmp_path, clips, cli_whole, moment):
    """Killed (SIGKILL) while the first frames are decoded, between segment writes, or once every segment is
    written (joining them), the same command then resumes and ends with the frames, stream layout and file
    contents of an uninterrupted run."""
    arguments = _kill_arguments(clips)
    reference = cli_whole
    output = tmp_path / "killed.mp4"
    parts = output.with_name(output.name + ".parts")
    ready = {
        "decoding": lambda: parts.is_dir(),
        "segments": lambda: len(list(parts.glob("segment_*.json"))) >= 2,
        "assembly": lambda: len(list(parts.glob("segment_*.json"))) >= 5,  # 90 frames: 5 segments
    }[moment]
    killed = _kill_when(_cli(*arguments, "-o", output), ready)
    if killed:
        assert not output.exists() or moment == "assembly", "a killed run leaves nothing under the output name"
    again = _cli(*arguments, "-o", output)
    _, errors = again.communicate(timeout=300)
    assert again.returncode == 0, errors
    if killed and moment == "segments":
        assert "resum" in errors, "the command says it resumed"
    whole, resumed = decoded_frames(reference), decoded_frames(output)
    assert len(whole) == len(resumed) == 90
    assert all(np.array_equal(a, b) for a, b in zip(whole, resumed))
    assert stream_layout(output) == stream_layout(reference)
    assert not parts.exists()


def test_ctrl_c_stops_with_exit_4_and_no_output(tmp_path, clips):
    output = tmp_path / "stopped.mp4"
    process = _cli("headless-run", "-s", grace_hopper(), "-t", clips["kill"], "-o", output, "--no-output-watermark", "--face-selector-mode",
                   "many", "--video-segment-frames", "15")
    _wait_for_segments(output.with_name(output.name + ".parts"), 1, process)
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 4
    assert "stopped" in errors and "Traceback" not in errors
    assert not output.exists()


def test_a_ctrl_c_that_lands_in_a_finaliser_still_stops_the_run(monkeypatch):
    """Python drops a KeyboardInterrupt raised while a finaliser runs; a run once went on to the end (exit 0)."""
    from facefusion.cli.run import ctrl_c_stops

    class Freed:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here, inside the finaliser

    dropped: list[type] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda raised: dropped.append(raised.exc_type))
    before = signal.getsignal(signal.SIGINT)
    with ctrl_c_stops() as stop:
        Freed()
    assert stop.is_set()
    assert dropped == [KeyboardInterrupt]  # Python's "Exception ignored in ...": dropped indeed
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("content, fragment", [
    # Fixed noise: now and then a random draw parses as some other container and gets another message.
    (np.random.default_rng(3).bytes(4000), "cannot read video"),
    (b"just some text, not a video at all", "cannot read video"),
])
def test_broken_video_files(tmp_path, content, fragment):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(content)
    process = _cli("headless-run", "-s", grace_hopper(), "-t", broken, "-o", tmp_path / "out.mp4")
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 2
    assert fragment in errors and "broken.mp4" in errors and "Traceback" not in errors


@pytest.mark.parametrize("extension", [".mkv", ".webm", ".mov"])
def test_a_video_without_frames_says_so(tmp_path, extension):
    """A container with an empty video stream once read as 'corrupt or not a video'."""
    empty = tmp_path / f"empty{extension}"
    with av.open(str(empty), "w") as container:
        stream = container.add_stream("libvpx-vp9" if extension == ".webm" else "libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()  # the header is written; not a single frame follows
    with pytest.raises(InvalidInputError, match="no frames in video|no video stream"):
        probe_video(empty)
    process = _cli("headless-run", "-s", grace_hopper(), "-t", empty, "-o", tmp_path / "out.mp4")
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 2 and "Traceback" not in errors
    assert ("no frames in video" in errors or "no video stream" in errors) and empty.name in errors


def test_video_output_extension_must_be_a_video(tmp_path, clips):
    process = _cli("headless-run", "-s", grace_hopper(), "-t", clips["silent"], "-o", tmp_path / "out.jpg")
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 2 and "unsupported output type" in errors


def test_a_face_map_position_no_frame_has_is_reported(tmp_path, clips):
    """Positions beyond the faces of every frame were ignored in silence on videos (images warned)."""
    result = swap(clips["silent"], tmp_path / "out.mp4", face_map=(f"5={grace_hopper()}",))
    assert any("--face-map position(s) 5 match no face: no frame has more than 1 face(s)" in warning
               for warning in result.warnings), result.warnings


def test_opencv_runs_single_threaded_while_videos_render_and_gets_its_threads_back():
    """Overlapping runs (the web UI, a batch) each hold OpenCV single-threaded; the last one out puts
    back the thread count it found."""
    import cv2

    from facefusion.media.opencv_threads import single_threaded_opencv

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        first, second = single_threaded_opencv(), single_threaded_opencv()
        first.__enter__()
        second.__enter__()
        assert cv2.getNumThreads() == 1
        first.__exit__(None, None, None)
        assert cv2.getNumThreads() == 1
        second.__exit__(None, None, None)
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)

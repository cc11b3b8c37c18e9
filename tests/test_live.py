"""Live: a clip played as the camera, swapped and sent to a UDP stream or a recording; bad input refused in one line.

The stream is received by a socket the test opens on 127.0.0.1 and decoded as a player would. Speed is not
asserted here (bench/live.py measures it); what is asserted is what a viewer gets: the camera's frames, in order,
with the source person's face, marked.
"""
from __future__ import annotations

import importlib.util
import io
import json
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import ROOT, SHARED, embedding_of, has_shared, largest
from facefusion.analysis.recognise import embedding_distance
from facefusion.live.camera import Capture, ClipCamera
from facefusion.media.image import read_image, write_image
from facefusion.safety.inspect import inspect_file
from processes import stop
from sample_media import astronaut, grace_hopper, make_clip
from test_cli import assert_one_line_error, run_cli

pytestmark = pytest.mark.xdist_group("live")  # two live runs at once would share two cores: one at a time

STATS = re.compile(r"live: (\d+) frames in, (\d+) out, (\d+) dropped, (\d+) failed; ([\d.]+) fps; "
                   r"latency p50 (\d+) ms, p95 (\d+) ms")


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory) -> tuple[Path, Path]:
    """(clip played as the camera, source photo): the development clip of strong expressions when it is here,
    else a clip of the installed astronaut photo moving (and Grace Hopper as the source)."""
    if has_shared():
        return SHARED / "video_expressions_long_01.mp4", SHARED / "woman_frontal_01.webp"
    folder = tmp_path_factory.mktemp("live")
    return make_clip(folder / "camera.mp4", frames=60, size=(480, 480), face_width=150), grace_hopper()


def stats_of(stderr: str) -> tuple[int, ...]:
    match = STATS.search(stderr)
    assert match is not None, stderr
    return tuple(int(float(value)) for value in match.groups())


class UdpReceiver:
    """Keeps every datagram sent to its port on 127.0.0.1."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.data = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                self.data.extend(self.socket.recv(65536))
            except TimeoutError:
                continue

    def frames(self) -> list[np.ndarray]:
        self._stop.set()
        self._thread.join()
        self.socket.close()
        with av.open(io.BytesIO(bytes(self.data)), format="mpegts") as container:
            return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def reads_as(frame: np.ndarray, wanted: np.ndarray, other: np.ndarray, analyser) -> bool:
    """Whether the frame's largest face is nearer the ``wanted`` person than the ``other``."""
    faces = analyser.analyse(frame)
    if not faces:
        return False
    embedding = analyser.embed(frame, largest(faces)).embedding
    return embedding_distance(embedding, wanted) < embedding_distance(embedding, other)


def test_a_udp_stream_carries_the_camera_with_the_source_face(camera_clip, analyser):
    clip, source = camera_clip
    receiver = UdpReceiver()
    result = run_cli("live", "-s", source, "--camera", clip, "--live-output", f"udp://127.0.0.1:{receiver.port}",
                     "--live-frames", "60", "--consent")
    assert result.returncode == 0, result.stderr
    frames_in, frames_out, dropped, failed, *_ = stats_of(result.stderr)
    assert frames_in == 60 and 0 < frames_out <= 60 and failed == 0
    assert frames_out + dropped <= frames_in
    frames = receiver.frames()
    assert len(frames) == frames_out  # localhost loses no datagram: every frame sent arrives whole
    with av.open(str(clip)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="bgr24")
    assert frames[0].shape == first.shape
    source_embedding = embedding_of(analyser, read_image(source).frame)
    camera_embedding = embedding_of(analyser, first)
    sampled = [frames[index] for index in np.linspace(0, len(frames) - 1, 6).round().astype(int)]
    toward_source = sum(reads_as(frame, source_embedding, camera_embedding, analyser) for frame in sampled)
    assert toward_source >= 5, toward_source


def test_a_recording_is_finished_marked_and_named_once_complete(tmp_path, camera_clip):
    clip, source = camera_clip
    recording = tmp_path / "live.mp4"
    log = tmp_path.parent / f"{tmp_path.name}-audit.jsonl"
    result = run_cli("live", "-s", source, "--camera", clip, "--live-output", recording, "--live-frames", "30",
                     "--consent", "--processors", "face_swapper", "frame_enhancer", "--audit-log", log)
    assert result.returncode == 0, result.stderr
    assert "frame_enhancer does not run live: it enlarges every frame" in result.stderr
    frames_in, frames_out, *_ = stats_of(result.stderr)
    assert frames_in == 30 and frames_out > 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["live.mp4"]  # no part left beside it
    with av.open(str(recording)) as container:
        assert sum(1 for _ in container.decode(video=0)) == frames_out
    logged_id = re.search(r"watermark id ([0-9a-f]{5})", result.stderr)
    assert logged_id is not None
    inspection = inspect_file(recording)
    assert inspection.marked
    assert logged_id.group(1) in "\n".join(inspection.report())
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["decision"] == "written" and entry["watermark_id"] == logged_id.group(1)
    assert entry["output_sha256"] and entry["target"]["sha256"]  # the clip played as the camera is a file


def test_a_protected_person_on_the_camera_is_refused_and_nothing_is_recorded(tmp_path):
    camera = make_clip(tmp_path / "camera.mp4", frames=20, size=(480, 480), face_width=150, audio=False)
    protected = tmp_path / "protected"
    protected.mkdir()
    write_image(protected / "astronaut.png", read_image(astronaut()).frame)
    log = tmp_path / "audit.jsonl"
    result = run_cli("live", "-s", grace_hopper(), "--camera", camera, "--live-output", tmp_path / "rec.mp4",
                     "--consent", "--protected-faces", protected, "--face-selector-mode", "many", "--audit-log", log)
    assert_one_line_error(result, 3, "protected")
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["decision"] == "refused" and "protected person" in entry["reason"]
    assert not (tmp_path / "rec.mp4").exists()
    assert not list(tmp_path.glob(".rec*"))


@pytest.mark.parametrize(("flags", "code", "fragment"), [
    (["--camera", "/dev/video77"], 2, "/dev/video77 does not exist"),
    (["--live-output", "ftp://127.0.0.1/x"], 2, "give udp://HOST:PORT"),
    (["--live-frames", "0"], 2, "--live-frames: give 1 or more"),
    (["--processors", "frame_enhancer"], 2, "no processor left that runs live"),
    (["--no-consent-flag"], 3, "consent"),
])
def test_bad_live_input_gets_one_line(tmp_path, flags, code, fragment):
    camera = make_clip(tmp_path / "camera.mp4", frames=5, size=(160, 160), face_width=60, audio=False)
    chosen = {"--camera": str(camera), "--live-output": str(tmp_path / "rec.mp4"), "--consent": None}
    extra: list[str] = []
    for index in range(0, len(flags), 2):
        if flags[index] == "--no-consent-flag":
            chosen.pop("--consent")
        elif flags[index] in chosen:
            chosen[flags[index]] = flags[index + 1]
        else:
            extra += flags[index:index + 2]
    arguments = [item for key, value in chosen.items() for item in ([key] if value is None else [key, value])]
    result = run_cli("live", "-s", grace_hopper(), *arguments, *extra)
    assert_one_line_error(result, code, fragment)


VIRTUAL_EXTRA = importlib.util.find_spec("pyvirtualcam") is not None
LOOPBACK_DEVICES = [path for path in Path("/sys/devices/virtual/video4linux").glob("video*")]


@pytest.mark.skipif(VIRTUAL_EXTRA, reason="the live extra is installed")
def test_a_virtual_camera_without_the_extra_says_how_to_get_it(tmp_path):
    camera = make_clip(tmp_path / "camera.mp4", frames=5, size=(160, 160), face_width=60, audio=False)
    result = run_cli("live", "-s", grace_hopper(), "--camera", camera, "--live-output", "virtual", "--consent")
    assert_one_line_error(result, 2, "make live", "v4l2loopback")


@pytest.mark.skipif(not VIRTUAL_EXTRA or bool(LOOPBACK_DEVICES),
                    reason="needs the live extra (make live) and a machine without a v4l2loopback device")
def test_a_virtual_camera_without_its_driver_fails_before_the_camera_runs(tmp_path):
    camera = make_clip(tmp_path / "camera.mp4", frames=5, size=(160, 160), face_width=60, audio=False)
    result = run_cli("live", "-s", grace_hopper(), "--camera", camera, "--live-output", "virtual", "--consent",
                     "--face-selector-mode", "many")
    assert_one_line_error(result, 2, "the virtual camera could not start", "modprobe v4l2loopback")


@pytest.mark.skipif(not VIRTUAL_EXTRA or not LOOPBACK_DEVICES,
                    reason="needs the live extra and a v4l2loopback device (sudo modprobe v4l2loopback)")
def test_a_virtual_camera_shows_the_live_picture(tmp_path):
    import cv2

    device = f"/dev/{LOOPBACK_DEVICES[0].name}"
    camera = make_clip(tmp_path / "camera.mp4", frames=90, size=(480, 480), face_width=150, audio=False)
    process = subprocess.Popen([sys.executable, "-m", "facefusion", "live", "-s", str(grace_hopper()), "--camera",
                                str(camera), "--live-output", f"v4l2:{device}", "--live-frames", "90", "--consent",
                                "--face-selector-mode", "many"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        reader = cv2.VideoCapture(device)
        frames = []
        while len(frames) < 5 and process.poll() is None:
            ok, frame = reader.read()
            if ok:
                frames.append(frame)
        reader.release()
    finally:
        stop(process)
    assert frames and frames[-1].shape[:2] == (480, 480)


def test_a_clip_camera_loops_and_a_slow_reader_gets_the_newest_frame(tmp_path):
    clip = make_clip(tmp_path / "short.mp4", frames=8, fps=30, size=(160, 160), face_width=60, audio=False)
    camera = ClipCamera(str(clip))
    stop = threading.Event()
    capture = Capture(camera, stop, limit=20)
    capture.start()
    taken = []
    while (captured := capture.take()) is not None:
        taken.append(captured.number)
        stop.wait(0.1)  # a reader three frames slow
    capture.join()
    camera.close()
    assert capture.frames == 20  # 8 frames, looped
    assert taken == sorted(taken) and taken[-1] == 19  # always the newest, the last one too
    assert capture.dropped == 20 - len(taken) and capture.dropped > 0


def test_the_pages_live_sessions_follow_faces_and_send_to_a_virtual_camera_only_when_asked():
    from facefusion.errors import InvalidInputError
    from facefusion.options import Options
    from facefusion.safety.policy import SafetyPolicy
    from facefusion.ui.live import LiveSessions

    frame = read_image(astronaut()).frame
    options = Options().replace(face_selector_mode="many", processors=["face_swapper", "frame_enhancer"])
    sessions = LiveSessions()
    try:
        first, note = sessions.draw("page", options, [str(grace_hopper())], [], frame, SafetyPolicy())
        assert first.shape == frame.shape and np.abs(first.astype(int) - frame).mean() > 1
        assert "the first frame took" in note and "1 face(s) swapped" in note
        assert "frame_enhancer does not run live" in note
        _, note = sessions.draw("page", options, [str(grace_hopper())], [], frame, SafetyPolicy())
        assert "frames/s" in note and "1 face(s) swapped" in note
        if VIRTUAL_EXTRA and not LOOPBACK_DEVICES:
            with pytest.raises(InvalidInputError, match="v4l2loopback"):
                sessions.draw("page", options, [str(grace_hopper())], [], frame, SafetyPolicy(), virtual=True)
        # Other options: the session starts over (its first frame again).
        _, note = sessions.draw("page", options.replace(face_swapper_morph=40), [str(grace_hopper())], [], frame,
                                SafetyPolicy())
        assert "the first frame took" in note
    finally:
        sessions.close()


def test_the_neural_engine_runs_live_on_the_same_frame_path(tmp_path):
    """A user's own inswapper-shaped model (paints the face one colour) drawn live into a recording: the face
    changes and the picture's corners stay the camera's."""
    import os

    from test_neural import colour_swapper, tiny_arcface

    models = tmp_path / "models"
    models.mkdir()
    tiny_arcface(models / "arcface_w600k_r50.onnx")
    swapper = colour_swapper(tmp_path / "mine.onnx")
    camera = make_clip(tmp_path / "camera.mp4", frames=20, size=(480, 480), face_width=150, audio=False)
    recording = tmp_path / "live.mp4"
    result = subprocess.run([sys.executable, "-m", "facefusion", "live", "-s", str(grace_hopper()), "--camera",
                             str(camera), "--live-output", str(recording), "--live-frames", "20", "--consent",
                             "--face-selector-mode", "many", "--face-swapper-model", str(swapper)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "FACEFUSION_MODELS_DIR": str(models)})
    assert result.returncode == 0, result.stderr
    with av.open(str(recording)) as written, av.open(str(camera)) as played:
        sent = [frame.to_ndarray(format="bgr24") for frame in written.decode(video=0)]
        original = [frame.to_ndarray(format="bgr24") for frame in played.decode(video=0)]
    assert sent
    picture = sent[-1]
    nearest = min(original, key=lambda frame: float(np.abs(frame.astype(int) - picture).mean()))
    change = np.abs(picture.astype(int) - nearest).mean(axis=2)
    assert change[:40, :40].mean() < 4 and change[-40:, -40:].mean() < 4  # the corners: the camera's own
    assert change.max() > 60  # the face: painted by the model


def test_ctrl_c_ends_a_live_run_as_planned_and_finishes_the_recording(tmp_path):
    import signal

    camera = make_clip(tmp_path / "camera.mp4", frames=30, size=(320, 320), face_width=100, audio=False)
    recording = tmp_path / "live.mp4"
    process = subprocess.Popen([sys.executable, "-m", "facefusion", "live", "-s", str(grace_hopper()), "--camera",
                                str(camera), "--live-output", str(recording), "--consent", "--face-selector-mode",
                                "many"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:  # the camera is running once this line is out
            if "Ctrl-C ends it" in line:
                break
        threading.Event().wait(1.5)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            stop(process)
    assert process.returncode == 0, stderr
    frames_in, frames_out, *_ = stats_of(stderr)
    assert frames_out > 0
    assert inspect_file(recording).marked
    assert not list(tmp_path.glob(".live*"))

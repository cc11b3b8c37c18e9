"""Content checks: NudeNet's detector run by our onnxruntime, and a real moderation service on 127.0.0.1."""
from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from facefusion.errors import InvalidInputError, RefusedError
from facefusion.media.image import read_image
from facefusion.safety import moderation
from facefusion.safety.moderation import NsfwCheck, nudenet_model
from test_cli import run_cli

needs_nudenet = pytest.mark.skipif(nudenet_model() is None, reason="needs the optional NSFW extra (make nsfw)")


class Moderator(http.server.BaseHTTPRequestHandler):
    """A moderation service: denies what its server's ``deny`` stage names, and keeps what it was sent."""

    def do_POST(self) -> None:  # noqa: N802 - the handler's name is http.server's
        body = self.rfile.read(int(self.headers["Content-Length"]))
        picture = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        stage = self.headers.get("X-Facefusion-Check")
        self.server.seen.append((stage, self.headers.get("Content-Type"), None if picture is None else picture.shape))
        deny = stage == self.server.deny
        answer = {"decision": "deny", "reason": "policy 4.2: no public figures"} if deny else {"decision": "allow"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def moderator(deny: str | None = None) -> Iterator[tuple[str, list]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Moderator)
    server.seen, server.deny = [], deny  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/check", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_the_service_sees_the_target_and_the_output_and_allows(tmp_path, generated):
    output = tmp_path / "out.jpg"
    with moderator() as (url, seen):
        result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output,
                         "--content-check", url)
    assert result.returncode == 0, result.stderr
    height, width = read_image(generated["grace_hopper"]).frame.shape[:2]
    assert seen == [("target", "image/jpeg", (height, width, 3)), ("output", "image/jpeg", (height, width, 3))]
    assert output.is_file()


@pytest.mark.parametrize("stage", ["target", "output"])
def test_a_deny_refuses_with_exit_3_and_the_services_reason(tmp_path, generated, stage):
    output = tmp_path / "out.jpg"
    with moderator(deny=stage) as (url, seen):
        result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output,
                         "--content-check", url)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: refused by the content check at {url}")
    assert "policy 4.2: no public figures" in result.stderr
    assert not output.exists()
    assert [item[0] for item in seen] == (["target"] if stage == "target" else ["target", "output"])


def test_a_video_is_checked_on_sampled_frames_and_a_denied_output_leaves_nothing(tmp_path):
    from sample_media import grace_hopper, make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=30, size=(480, 270), face_width=110)
    folder = tmp_path / "result"
    folder.mkdir()
    with moderator() as (url, seen):
        allowed = run_cli("headless-run", "-s", grace_hopper(), "-t", clip, "-o", folder / "ok.mp4",
                          "--content-check", url)
    assert allowed.returncode == 0, allowed.stderr
    assert [item[0] for item in seen].count("target") == 8 and [item[0] for item in seen].count("output") == 8
    (folder / "ok.mp4").unlink()
    with moderator(deny="output") as (url, seen):
        denied = run_cli("headless-run", "-s", grace_hopper(), "-t", clip, "-o", folder / "out.mp4",
                         "--content-check", url)
    assert denied.returncode == 3, denied.stderr
    assert "frame 0 of the output for clip.mp4" in denied.stderr
    assert list(folder.iterdir()) == []


def test_a_service_that_does_not_answer_stops_the_run(tmp_path, generated):
    with moderator() as (url, _):
        pass  # the server is gone: its port no longer answers
    output = tmp_path / "out.jpg"
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output,
                     "--content-check", url)
    assert result.returncode == 1, result.stderr
    assert f"the content check at {url} did not answer" in result.stderr
    assert "Traceback" not in result.stderr and not output.exists()


def test_an_unknown_check_is_a_clear_error(tmp_path, generated):
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o",
                     tmp_path / "out.jpg", "--content-check", "violence")
    assert result.returncode == 2
    assert "--content-check: 'violence' is neither nsfw nor an http(s) URL" in result.stderr


def test_without_the_extra_nsfw_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(moderation, "nudenet_model", lambda: None)
    with pytest.raises(InvalidInputError, match=r"make nsfw"):
        NsfwCheck()


@needs_nudenet
def test_the_detector_finds_faces_where_they_are_and_refuses_nothing_in_portraits(generated, analyser):
    check = NsfwCheck()
    for name in ("astronaut", "grace_hopper", "two_people"):
        frame = read_image(generated[name]).frame
        detections = check.detect(frame)
        faces = [detection for detection in detections if detection.label.startswith("FACE_")]
        for face in analyser.analyse(frame):  # every face the analyser finds is inside one of its boxes
            centre_x, centre_y = face.centre
            assert any(x < centre_x < x + width and y < centre_y < y + height
                       for x, y, width, height in (detection.box for detection in faces)), name
        check.check(frame, name, "target")  # no refusal


@needs_nudenet
def test_a_refused_class_refuses_with_what_was_found(generated):
    check = NsfwCheck(refused_labels=frozenset({"FACE_FEMALE", "FACE_MALE"}))  # faces stand in for the real classes
    with pytest.raises(RefusedError, match=r"refused by the content check \(nsfw\): the photo shows face (fe)?male"):
        check.check(read_image(generated["grace_hopper"]).frame, "the photo", "target")


@needs_nudenet
def test_the_cli_runs_the_nsfw_check(tmp_path, generated):
    output = tmp_path / "out.jpg"
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output,
                     "--content-check", "nsfw")
    assert result.returncode == 0, result.stderr
    assert output.is_file()

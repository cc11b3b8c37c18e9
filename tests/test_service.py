"""The job API: a real `facefusion serve` process on 127.0.0.1, HTTP calls, a real webhook receiver."""
from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import ROOT, embedding_of
from facefusion.media.image import read_image
from facefusion.service.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from processes import stop

KEY = "test-key-0123456789abcdef"
OTHER_KEY = "other-key-0123456789abcdef"
SECRET = "webhook-secret-for-tests"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(folder: Path, *flags: str, environment: dict[str, str] | None = None) -> Iterator[str]:
    """`facefusion serve` in its own process (stopped by its PID); yields its base URL."""
    keys = folder / "keys.txt"
    keys.write_text(f"# callers\nalice {KEY}\nbob {OTHER_KEY}\n")
    port = _free_port()
    log = open(folder / f"serve-{port}.log", "w")
    keys.chmod(0o600)
    # The test's receivers listen on this machine, which callbacks may reach only when the operator says so.
    process = subprocess.Popen([sys.executable, "-m", "facefusion", "serve", "--port", str(port), "--api-keys",
                                str(keys), "--data", str(folder / "data"), "--callback-allow-hosts", "127.0.0.1",
                                "--callback-retry-after", "0.5,1,2", *flags],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "FACEFUSION_WEBHOOK_SECRET": SECRET, **(environment or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1)
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None:
                    raise AssertionError((folder / f"serve-{port}.log").read_text()) from None
                time.sleep(0.1)
        yield url
    finally:
        stop(process, 30.0)
        log.close()


def call(method: str, url: str, key: str | None = KEY, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def multipart(fields: dict[str, str], files: list[tuple[str, Path]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, path in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{path.name}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + path.read_bytes() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def submit(url: str, target: Path, sources: list[Path], key: str = KEY, idempotency: str | None = None,
           **fields: str) -> tuple[int, dict]:
    fields.setdefault("consent", "true")
    body, kind = multipart(fields, [("target", target)] + [("sources", source) for source in sources])
    headers = {"Content-Type": kind}
    if idempotency:
        headers["Idempotency-Key"] = idempotency
    status, answer = call("POST", f"{url}/v1/jobs", key, body, headers)
    return status, json.loads(answer)


def wait_for(url: str, job_id: str, timeout: float = 240, key: str = KEY) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, answer = call("GET", f"{url}/v1/jobs/{job_id}", key)
        job = json.loads(answer)
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {job}")


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.calls.append((dict(self.headers), body))  # type: ignore[attr-defined]
        failing = len(self.server.calls) <= self.server.fail_first  # type: ignore[attr-defined]
        self.send_response(500 if failing else 204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def receiver(fail_first: int = 0) -> Iterator[tuple[str, list]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.calls, server.fail_first = [], fail_first  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", server.calls  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("service")) as url:
        yield url


def test_keys_are_required_and_options_are_checked_by_name(service, generated):
    assert call("GET", f"{service}/v1/capabilities", key=None)[0] == 401
    assert call("GET", f"{service}/v1/capabilities", key="wrong-key-0123456789")[0] == 401
    status, answer = call("GET", f"{service}/v1/capabilities")
    options = json.loads(answer)["options"]
    assert status == 200 and options["face_selector_mode"]["choices"] == ["many", "one", "reference"]
    assert options["face_swapper_morph"]["minimum"] == 0 and options["output_watermark"]["type"] == "boolean"
    status, answer = submit(service, generated["grace_hopper"], [generated["astronaut"]],
                            options=json.dumps({"face_swapper_morph": 500}))
    assert status == 422 and "--face-swapper-morph: 500 is out of range" in answer["detail"]
    status, answer = submit(service, generated["grace_hopper"], [generated["astronaut"]],
                            options=json.dumps({"face_swap_strength": 1}))
    assert status == 422 and "face_swap_strength" in answer["detail"]
    status, answer = submit(service, generated["grace_hopper"], [generated["astronaut"]], consent="false")
    assert status == 422 and answer["detail"].startswith("consent:")


def test_a_bad_upload_is_refused_before_a_job_exists(service, generated, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture at all")
    status, answer = submit(service, broken, [generated["astronaut"]])
    assert status == 422 and "broken.jpg" in answer["detail"]
    # A source photo that decodes but shows no face is found when the job runs: the job fails, saying so.
    status, answer = submit(service, generated["grace_hopper"], [generated["no_face"]])
    assert status == 202
    job = wait_for(service, answer["id"])
    assert job["status"] == "failed" and "no face found in source image" in job["error"]


def test_an_image_job_swaps_the_face_and_calls_back_signed(service, generated, analyser, tmp_path):
    with receiver(fail_first=1) as (hook, calls):
        status, job = submit(service, generated["grace_hopper"], [generated["astronaut"]], callback_url=hook,
                             options=json.dumps({"face_selector_mode": "many"}))
        assert status == 202 and job["status"] == "queued"
        finished = wait_for(service, job["id"])
        assert finished["status"] == "done", finished
        assert finished["report"]["faces_swapped"] == 1 and finished["report"]["watermark_id"]
        status, data = call("GET", f"{service}{finished['result_url']}")
        assert status == 200
        output = tmp_path / "result.jpg"
        output.write_bytes(data)
        for _ in range(100):
            if len(calls) >= 2:
                break
            time.sleep(0.1)
    swapped, target = read_image(output).frame, read_image(generated["grace_hopper"]).frame
    assert swapped.shape == target.shape and not np.array_equal(swapped, target)
    source_identity = embedding_of(analyser, read_image(generated["astronaut"]).frame)
    from facefusion.analysis.recognise import embedding_distance

    assert embedding_distance(embedding_of(analyser, swapped), source_identity) < embedding_distance(
        embedding_of(analyser, target), source_identity)
    # The first callback got a 500 and was retried; both carry a signature the receiver can check.
    assert len(calls) == 2
    for headers, body in calls:
        assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        assert not verify("another-secret", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        assert json.loads(body)["id"] == job["id"] and json.loads(body)["status"] == "done"
    recorded = json.loads(call("GET", f"{service}/v1/jobs/{job['id']}")[1])["callbacks"]
    assert [attempt.get("status") for attempt in recorded] == [500, 204]


def test_a_video_job_keeps_frames_duration_and_audio_and_reports_progress(service, tmp_path):
    from sample_media import grace_hopper, make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=45, size=(480, 270), face_width=110)
    status, job = submit(service, clip, [grace_hopper()])
    assert status == 202
    request = urllib.request.Request(f"{service}/v1/jobs/{job['id']}/events", headers={"Authorization": f"Bearer {KEY}"})
    kinds = []
    with urllib.request.urlopen(request, timeout=240) as stream:
        for line in stream:
            if line.startswith(b"event: "):
                kinds.append(line[7:].strip().decode())
    assert kinds[-1] == "done" and "running" in kinds
    finished = wait_for(service, job["id"])
    assert finished["report"]["frames"] == 45 and finished["progress"]["total"] == 45
    output = tmp_path / "out.mp4"
    output.write_bytes(call("GET", f"{service}{finished['result_url']}")[1])
    with av.open(str(output)) as written, av.open(str(clip)) as original:
        assert written.streams.audio
        assert abs(float(written.duration - original.duration)) / 1e6 < 0.1
        assert sum(1 for _ in written.decode(video=0)) == 45


def test_jobs_are_private_idempotent_and_cancellable(service, generated, tmp_path):
    from sample_media import grace_hopper, make_clip

    first = submit(service, generated["grace_hopper"], [generated["astronaut"]], idempotency="same-request")
    again = submit(service, generated["grace_hopper"], [generated["astronaut"]], idempotency="same-request")
    assert first[0] == 202 and again[0] == 200 and again[1]["id"] == first[1]["id"]
    assert call("GET", f"{service}/v1/jobs/{first[1]['id']}", key=OTHER_KEY)[0] == 404
    clip = make_clip(tmp_path / "long.mp4", frames=600, size=(480, 270), face_width=110, audio=False)
    status, job = submit(service, clip, [grace_hopper()])
    for _ in range(600):
        if json.loads(call("GET", f"{service}/v1/jobs/{job['id']}")[1])["status"] == "running":
            break
        time.sleep(0.2)
    assert call("DELETE", f"{service}/v1/jobs/{job['id']}")[0] == 202
    cancelled = wait_for(service, job["id"])
    assert cancelled["status"] == "cancelled" and cancelled["result_url"] is None
    assert call("GET", f"{service}/v1/jobs/{job['id']}/result")[0] == 409


def test_a_restarted_server_finishes_the_jobs_it_was_given(tmp_path, generated):
    from sample_media import grace_hopper, make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=120, size=(480, 270), face_width=110)
    with serving(tmp_path, "--video-segment-frames", "48") as url:
        status, job = submit(url, clip, [grace_hopper()])
        for _ in range(600):
            progress = json.loads(call("GET", f"{url}/v1/jobs/{job['id']}")[1])["progress"]
            if progress.get("frames", 0) >= 50:
                break
            time.sleep(0.1)
    with serving(tmp_path, "--video-segment-frames", "48") as url:  # the same data folder
        finished = wait_for(url, job["id"])
    assert finished["status"] == "done", finished
    assert finished["report"]["frames"] == 120
    assert finished["report"]["resumed_from"] >= 48  # at least one finished segment was kept


def test_the_servers_default_options_apply_unless_a_job_gives_its_own(tmp_path, generated):
    defaults = json.dumps({"face_selector_mode": "many", "face_swapper_morph": 40})
    with serving(tmp_path, "--default-options", defaults) as url:
        options = json.loads(call("GET", f"{url}/v1/capabilities")[1])["options"]
        assert options["face_selector_mode"]["default"] == "many" and options["face_swapper_morph"]["default"] == 40
        status, job = submit(url, generated["two_people"], [generated["grace_hopper"]])
        assert status == 202 and wait_for(url, job["id"])["report"]["faces_selected"] == 2
        status, job = submit(url, generated["two_people"], [generated["grace_hopper"]],
                             options=json.dumps({"face_selector_mode": "one"}))
        assert status == 202 and wait_for(url, job["id"])["report"]["faces_selected"] == 1
    keys = tmp_path / "keys.txt"
    refused = subprocess.run([sys.executable, "-m", "facefusion", "serve", "--api-keys", str(keys), "--data",
                              str(tmp_path / "other"), "--default-options", '{"face_swapper_morph": 500}'],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "--default-options: --face-swapper-morph: 500 is out of range" in refused.stderr


def test_each_callers_own_limits_apply_before_the_servers(tmp_path, generated):
    from sample_media import grace_hopper, make_clip

    keys = tmp_path / "limited-keys.txt"
    keys.write_text(f"alice {KEY} queued=1 upload=2mb\nbob {OTHER_KEY}\n")
    clip = make_clip(tmp_path / "clip.mp4", frames=150, size=(480, 270), face_width=110)
    noise = tmp_path / "large.png"
    import numpy as np

    from facefusion.media.image import write_image

    write_image(noise, np.random.default_rng(0).integers(0, 255, (1400, 1400, 3), dtype=np.uint8))
    assert noise.stat().st_size > 2_000_000
    with serving(tmp_path, "--api-keys", str(keys), "--max-queued-jobs", "4") as url:
        status, first = submit(url, clip, [grace_hopper()])
        assert status == 202, first
        status, refused = submit(url, generated["grace_hopper"], [grace_hopper()])
        assert status == 429 and refused["detail"].startswith("1 of your jobs are already queued or running")
        status, other = submit(url, generated["grace_hopper"], [grace_hopper()], key=OTHER_KEY)
        assert status == 202, other  # bob has the server's limit of 4
        assert call("DELETE", f"{url}/v1/jobs/{first['id']}")[0] == 202  # her place comes free when it ends
        assert wait_for(url, first["id"])["status"] == "cancelled"
        status, large = submit(url, noise, [grace_hopper()], key=KEY)
        assert status == 413 and large["detail"] == "the upload is larger than your limit of 2000000 bytes"
    keys.write_text(f"alice {KEY} queued=0\n")
    refused = subprocess.run([sys.executable, "-m", "facefusion", "serve", "--api-keys", str(keys), "--data",
                              str(tmp_path / "other")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert f"--api-keys: line 1 of {keys}: 'queued=0' is not queued=N (1 or more)" in refused.stderr


def test_callers_list_their_jobs_and_delete_a_finished_jobs_files(tmp_path, generated):
    with serving(tmp_path) as url:
        jobs = [submit(url, generated["grace_hopper"], [generated["astronaut"]])[1] for _ in range(2)]
        for job in jobs:
            assert wait_for(url, job["id"])["status"] == "done"
        status, other = submit(url, generated["astronaut"], [generated["grace_hopper"]], key=OTHER_KEY)
        listed = json.loads(call("GET", f"{url}/v1/jobs")[1])["jobs"]
        assert [job["id"] for job in listed] == [jobs[1]["id"], jobs[0]["id"]]  # alice's own, newest first
        assert json.loads(call("GET", f"{url}/v1/jobs?status=queued")[1])["jobs"] == []
        bad = call("GET", f"{url}/v1/jobs?status=finished")
        assert bad[0] == 422 and "status: 'finished' is not one of queued, running" in bad[1].decode()
        assert call("GET", f"{url}/v1/jobs", key=None)[0] == 401

        folder = tmp_path / "data" / "files" / jobs[0]["id"]
        assert (folder / "output.jpg").is_file() and any((folder / "inputs").iterdir())
        status, answer = call("DELETE", f"{url}/v1/jobs/{jobs[0]['id']}")
        deleted = json.loads(answer)
        assert status == 200 and deleted["status"] == "done" and deleted["files_deleted"] is not None
        assert deleted["result_url"] is None and deleted["report"]["faces_swapped"] == 1  # the record stays
        assert not folder.exists()
        gone = call("GET", f"{url}/v1/jobs/{jobs[0]['id']}/result")
        assert gone[0] == 410 and "files were deleted at" in gone[1].decode()
        assert call("GET", f"{url}/v1/jobs/{jobs[1]['id']}/result")[0] == 200  # the other job is untouched


def test_keep_files_deletes_finished_jobs_files_after_the_duration(tmp_path, generated):
    with serving(tmp_path, "--keep-files", "2s") as url:
        status, job = submit(url, generated["grace_hopper"], [generated["astronaut"]])
        assert wait_for(url, job["id"])["status"] == "done"
        assert call("GET", f"{url}/v1/jobs/{job['id']}/result")[0] == 200
        for _ in range(100):
            described = json.loads(call("GET", f"{url}/v1/jobs/{job['id']}")[1])
            if described["files_deleted"] is not None:
                break
            time.sleep(0.1)
        assert described["files_deleted"] is not None and described["result_url"] is None
        assert not (tmp_path / "data" / "files" / job["id"]).exists()
        assert call("GET", f"{url}/v1/jobs/{job['id']}/result")[0] == 410
    refused = subprocess.run([sys.executable, "-m", "facefusion", "serve", "--api-keys", str(tmp_path / "keys.txt"),
                              "--data", str(tmp_path / "other"), "--keep-files", "soon"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--keep-files: 'soon' is not a duration such as 24h" in refused.stderr

"""The job API attacked as a stranger, a flood and a fault would: each case starts real `facefusion serve`
processes on 127.0.0.1 (stopped by their PID), real receivers and raw sockets, and asserts the refusal and that
nothing was written, lost or leaked."""
from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from facefusion.media.image import read_image, write_image
from processes import stop
from test_service import KEY, OTHER_KEY, call, receiver, serving, submit, wait_for

ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[\w.-]+/)+[\w.-]+")


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _raw_post(url: str, headers: dict[str, str], body_chunks: Iterator[bytes], chunked: bool) -> tuple[int, int]:
    """POST over a raw socket, sending until the server answers or closes: (status, bytes sent)."""
    host, port = url.split("//", 1)[1].split(":")
    connection = socket.create_connection((host, int(port)), timeout=30)
    head = "POST /v1/jobs HTTP/1.1\r\nHost: {}\r\n{}{}\r\n".format(
        host, "".join(f"{name}: {value}\r\n" for name, value in headers.items()),
        "Transfer-Encoding: chunked\r\n" if chunked else "")
    connection.sendall(head.encode())
    sent = 0
    answer = b""
    connection.setblocking(False)
    try:
        for chunk in body_chunks:
            framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
            view = memoryview(framed)
            while view:
                try:
                    answer += connection.recv(65536)
                except BlockingIOError:
                    pass
                if answer:
                    raise StopIteration
                try:
                    written = connection.send(view)
                    sent += written
                    view = view[written:]
                except BlockingIOError:
                    time.sleep(0.001)
    except (StopIteration, BrokenPipeError, ConnectionResetError):
        pass
    connection.setblocking(True)
    connection.settimeout(30)
    try:
        while b"\r\n" not in answer:
            more = connection.recv(65536)
            if not more:
                break
            answer += more
    except (ConnectionResetError, TimeoutError):
        pass
    connection.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, sent


def _megabytes(count: int) -> Iterator[bytes]:
    """A multipart body whose one file goes on for ``count`` MB (boundary ``x``)."""
    yield b'--x\r\nContent-Disposition: form-data; name="target"; filename="big.jpg"\r\n\r\n'
    block = b"y" * (1 << 20)
    for _ in range(count):
        yield block


@pytest.fixture(scope="module")
def limited(tmp_path_factory) -> Iterator[tuple[str, Path, Path]]:
    """A server whose alice may upload 1 MB and have 3 jobs waiting; its spool folder (TMPDIR) and data folder
    are the test's, so what it writes can be counted."""
    folder = tmp_path_factory.mktemp("limited")
    spool = folder / "spool"
    spool.mkdir()
    keys = folder / "limited-keys.txt"
    keys.write_text(f"alice {KEY} queued=3 upload=1mb\nbob {OTHER_KEY}\n")
    keys.chmod(0o600)
    with serving(folder, "--api-keys", str(keys), "--workers", "0",
                 environment={"TMPDIR": str(spool)}) as url:
        yield url, spool, folder / "data"


def test_no_body_is_read_before_the_key_and_the_callers_size_are_known(limited):
    url, spool, data = limited
    before = _folder_bytes(data)
    # Without a key: 300 MB declared, 600 MB chunked: refused at once, nothing spooled or stored.
    status, sent = _raw_post(url, {"Content-Length": str(300 << 20), "Content-Type": "multipart/form-data; "
                                   "boundary=x"}, _megabytes(300), chunked=False)
    assert status == 401 and sent < 64 << 20
    status, sent = _raw_post(url, {"Content-Type": "multipart/form-data; boundary=x"}, _megabytes(600), chunked=True)
    assert status == 401 and sent < 64 << 20
    # With a key limited to 1 MB: a larger declared body is refused before it is read; a chunked one is read
    # only up to the limit.
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "multipart/form-data; boundary=x"}
    status, sent = _raw_post(url, {**auth, "Content-Length": str(300 << 20)}, _megabytes(300), chunked=False)
    assert status == 413 and sent < 64 << 20
    status, sent = _raw_post(url, auth, _megabytes(600), chunked=True)
    assert status == 413 and sent < 64 << 20
    assert _folder_bytes(spool) == 0 and _folder_bytes(data) - before < 1 << 20


def test_requests_sent_at_once_cannot_pass_the_queue_limit(limited, generated):
    url, _, _ = limited
    answers: list[int] = []

    def one() -> None:
        answers.append(submit(url, generated["grace_hopper"], [generated["astronaut"]])[0])

    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [202] * 3 + [429] * 9


def test_bad_options_and_repeated_keys_are_refused_with_a_reason(service_plain, generated, tmp_path):
    url = service_plain
    cases = {
        '{"face_swapper_morph": NaN}': "NaN is not a number",
        '{"face_swapper_morph": true}': "--face-swapper-morph: give a whole number",
        '{"face_detector_score": "0.5"}': "--face-detector-score: give a number",
        '{"output_video_quality": 50.5}': "--output-video-quality: give a whole number",
        "[" * 5000 + "]" * 5000: "nested too deeply",
        '{"processors": [["face_swapper"]]}': "nested too deeply",
        '{"execution_providers": ["cuda"]}': "'cuda' is not available",
        '{"output_watermark": false}': "set by this server's operator",
        '{"output_label": null}': "set by this server's operator",
        '{"face_swapper_model": "/etc/passwd.onnx"}': "models folder",
        '{"face_swapper_model": "../models/x.onnx"}': "models folder",
    }
    for options, reason in cases.items():
        status, answer = submit(url, generated["grace_hopper"], [generated["astronaut"]], options=options)
        assert status == 422 and reason in answer["detail"], (options, answer)
        assert not ABSOLUTE_PATH.search(answer["detail"]), answer
    first = submit(url, generated["grace_hopper"], [generated["astronaut"]], idempotency="one-request")
    same = submit(url, generated["grace_hopper"], [generated["astronaut"]], idempotency="one-request")
    other = submit(url, generated["astronaut"], [generated["grace_hopper"]], idempotency="one-request")
    assert first[0] == 202 and same[0] == 200 and same[1]["id"] == first[1]["id"]
    assert other[0] == 409 and "Idempotency-Key" in other[1]["detail"]
    # A long file name keeps its extension (it says what the file is).
    long_name = tmp_path / ("a" * 120 + ".png")
    long_name.write_bytes(generated["grace_hopper"].read_bytes() if generated["grace_hopper"].suffix == ".png"
                          else write_image(tmp_path / "g.png", read_image(generated["grace_hopper"]).frame)
                          .read_bytes())
    status, job = submit(url, long_name, [generated["astronaut"]])
    assert status == 202, job
    finished = wait_for(url, job["id"])
    assert finished["status"] == "done", finished
    # What the caller sees and the result's metadata name no server folder.
    text = json.dumps(finished)
    assert not ABSOLUTE_PATH.search(text.replace(finished["result_url"], "")), text
    data = call("GET", f"{url}{finished['result_url']}")[1]
    assert b"/models" not in data and str(ROOT).encode() not in data
    failed = wait_for(url, submit(url, generated["grace_hopper"], [generated["no_face"]])[1]["id"])
    assert failed["status"] == "failed" and not ABSOLUTE_PATH.search(failed["error"]), failed


@pytest.fixture(scope="module")
def service_plain(tmp_path_factory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("plain"), "--output-label", "MADE-BY-AI") as url:
        yield url


def test_every_result_carries_the_operators_marks(service_plain, generated, tmp_path):
    status, capabilities = call("GET", f"{service_plain}/v1/capabilities")
    described = json.loads(capabilities)["options"]
    assert described["output_label"]["default"] == "MADE-BY-AI" and described["output_label"]["set_by_operator"]
    status, job = submit(service_plain, generated["grace_hopper"], [generated["astronaut"]])
    finished = wait_for(service_plain, job["id"])
    assert finished["status"] == "done" and finished["report"]["watermark_id"]
    result = tmp_path / "result.jpg"
    result.write_bytes(call("GET", f"{service_plain}{finished['result_url']}")[1])
    target, swapped = read_image(generated["grace_hopper"]).frame, read_image(result).frame
    height, width = target.shape[:2]
    corner = (slice(int(height * 0.9), height), slice(int(width * 0.6), width))
    difference = np.abs(swapped[corner].astype(int) - target[corner].astype(int)).mean()
    assert difference > 3, "the label is burnt into the bottom-right corner"
    found = subprocess.run([sys.executable, "-m", "facefusion", "inspect", str(result)], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert found.returncode == 0, found.stdout + found.stderr


class _Hook(http.server.BaseHTTPRequestHandler):
    """A receiver that answers as the test says: redirect, sleep, drip."""

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.calls.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)  # type: ignore[attr-defined]
            self.end_headers()
        elif self.path == "/sleep":
            time.sleep(40)
        elif self.path == "/drip":
            self.wfile.write(b"H")
            for _ in range(20):
                time.sleep(2)
                self.wfile.write(b"T")
                self.wfile.flush()
        else:
            self.send_response(204)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def hooks() -> Iterator[tuple[str, list]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.daemon_threads = True
    server.calls = []  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{server.server_address[1]}"
    server.redirect_to = f"{base}/landed"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield base, server.calls  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_callbacks_reach_public_addresses_only_and_follow_no_redirect(tmp_path, generated):
    folder = tmp_path / "strict"
    folder.mkdir()
    keys = folder / "keys.txt"
    keys.write_text(f"alice {KEY}\n")
    keys.chmod(0o600)
    port = _closed_port()
    # A server with no allowed private host: every internal address is refused at submit.
    with _plain_server(folder, keys) as url:
        for hook in ["http://127.0.0.1:9/", "http://localhost/", "http://169.254.169.254/latest/meta-data/",
                     "http://10.0.0.1/", "http://192.168.1.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
                     "http://0x7f000001/", "http://127.1/", "ftp://example.org/", "http://user:pw@127.0.0.1/"]:
            status, answer = submit(url, generated["grace_hopper"], [generated["astronaut"]], callback_url=hook)
            assert status == 422 and answer["detail"].startswith("callback_url:"), (hook, answer)
    # Allowed by name (as tests must): a redirect is recorded, not followed; a closed port records no OS text.
    with hooks() as (base, calls), serving(tmp_path) as url:
        status, job = submit(url, generated["grace_hopper"], [generated["astronaut"]], callback_url=f"{base}/redirect")
        status, closed = submit(url, generated["grace_hopper"], [generated["astronaut"]],
                                callback_url=f"http://127.0.0.1:{port}/hook")
        for job_id in (job["id"], closed["id"]):
            wait_for(url, job_id)
        deadline = time.time() + 60
        while time.time() < deadline:
            redirected = json.loads(call("GET", f"{url}/v1/jobs/{job['id']}")[1])["callbacks"]
            refused = json.loads(call("GET", f"{url}/v1/jobs/{closed['id']}")[1])["callbacks"]
            if len(redirected) >= 4 and len(refused) >= 4:
                break
            time.sleep(0.5)
        assert [path for path, _, _ in calls] == ["/redirect"] * len(redirected)
        assert all(attempt["status"] == 302 and attempt["outcome"] == "failed" for attempt in redirected)
        assert len({attempt["delivery_id"] for attempt in redirected}) == 1
        assert all(set(attempt) == {"attempt", "time", "delivery_id", "outcome", "status", "reason"}
                   and attempt["reason"] in ("no answer", "no answer in time") for attempt in refused), refused


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _plain_server(folder: Path, keys: Path, *flags: str, environment: dict[str, str] | None = None
                  ) -> Iterator[str]:
    """`facefusion serve` as an operator starts it (no test allowances); yields its URL."""
    port = _closed_port()
    log = open(folder / "serve.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "facefusion", "serve", "--port", str(port), "--api-keys",
                                str(keys), "--data", str(folder / "data"), *flags], cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT,
                               env={**os.environ, "FACEFUSION_WEBHOOK_SECRET": "plain-secret-0123456789",
                                    **(environment or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                raise AssertionError((folder / "serve.log").read_text())
            try:
                if call("GET", f"{url}/health", key=None)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        yield url
    finally:
        stop(process, 30.0)
        log.close()


def test_a_slow_or_dripping_receiver_delays_no_other_job(tmp_path, generated):
    with hooks() as (base, calls), receiver() as (prompt, prompt_calls), serving(tmp_path) as url:
        warm = submit(url, generated["grace_hopper"], [generated["astronaut"]], key=OTHER_KEY)[1]
        assert wait_for(url, warm["id"], key=OTHER_KEY)["status"] == "done"  # models loaded: what follows times the jobs alone
        started = time.monotonic()
        slow = submit(url, generated["grace_hopper"], [generated["astronaut"]], callback_url=f"{base}/sleep")[1]
        drip = submit(url, generated["grace_hopper"], [generated["astronaut"]], callback_url=f"{base}/drip")[1]
        # Alice's receiver takes ten more callbacks it never answers: more than there are delivery threads.
        for _ in range(10):
            submit(url, generated["grace_hopper"], [generated["astronaut"]], callback_url=f"{base}/sleep")
        other = submit(url, generated["astronaut"], [generated["grace_hopper"]], key=OTHER_KEY, callback_url=prompt)[1]
        assert wait_for(url, other["id"], timeout=120, key=OTHER_KEY)["status"] == "done"
        finished = time.monotonic()
        took = finished - started
        assert took < 60, f"bob's job waited {took:.0f} s behind alice's receivers"
        while not prompt_calls and time.monotonic() - finished < 30:
            time.sleep(0.1)
        assert prompt_calls and time.monotonic() - finished < 4, "bob's callback waited behind alice's receiver"
        assert wait_for(url, slow["id"])["status"] == "done"
        drip_done = wait_for(url, drip["id"])
        assert drip_done["status"] == "done"
        deadline = time.time() + 40
        while time.time() < deadline:
            attempts = json.loads(call("GET", f"{url}/v1/jobs/{drip['id']}")[1])["callbacks"]
            if attempts:
                break
            time.sleep(0.5)
        # The receiver drips for 40 s; the attempt ended at its 10 s deadline.
        assert attempts[0]["outcome"] == "failed" and attempts[0]["reason"] == "no answer in time"
        # Measured on the server's clock from the job's end, so a busy test machine does not change it.
        assert attempts[0]["time"] - drip_done["updated"] < 25


def test_callbacks_survive_a_restart_and_need_a_secret(tmp_path, generated):
    with receiver(fail_first=1) as (hook, calls):
        with serving(tmp_path, "--callback-retry-after", "4") as url:
            status, job = submit(url, generated["grace_hopper"], [generated["astronaut"]], callback_url=hook)
            wait_for(url, job["id"])
            for _ in range(100):
                if calls:
                    break
                time.sleep(0.1)
        assert len(calls) == 1  # the first attempt failed; the server stopped before the second
        with serving(tmp_path) as url:
            for _ in range(150):
                if len(calls) >= 2:
                    break
                time.sleep(0.1)
        assert len(calls) == 2
        assert calls[0][0]["X-Facefusion-Delivery"] == calls[1][0]["X-Facefusion-Delivery"]
    folder = tmp_path / "unsigned"
    folder.mkdir()
    keys = folder / "keys.txt"
    keys.write_text(f"alice {KEY}\n")
    keys.chmod(0o600)
    with _plain_server(folder, keys, environment={"FACEFUSION_WEBHOOK_SECRET": ""}) as url:
        status, answer = submit(url, generated["grace_hopper"], [generated["astronaut"]],
                                callback_url="http://example.org/hook")
        assert status == 422 and "no webhook secret" in answer["detail"]


def test_bombs_are_refused_before_work_and_long_work_stops(tmp_path, generated):
    from sample_media import grace_hopper, make_clip

    huge = write_image(tmp_path / "huge.png", np.zeros((7000, 7000, 3), np.uint8))
    clip = make_clip(tmp_path / "clip.mp4", frames=40, size=(320, 180), face_width=80, audio=False)
    wide = make_clip(tmp_path / "wide.mp4", frames=3, size=(1600, 900), face_width=200, audio=False)
    with serving(tmp_path, "--max-video-frames", "30", "--max-pixels", "1mp",
                 "--allowed-processors", "face_swapper", "frame_enhancer") as url:
        for target, reason in ((huge, "megapixels"), (wide, "megapixels"), (clip, "40 frames"),
                               (photo_path(tmp_path), "megapixels")):
            status, answer = submit(url, target, [grace_hopper()])
            assert status == 413 and reason in answer["detail"], answer
        status, answer = submit(url, generated["grace_hopper"], [grace_hopper()],
                                options=json.dumps({"processors": ["face_enhancer"]}))
        assert status == 422 and "not offered by this server" in answer["detail"]
    with serving(tmp_path, "--job-deadline", "4s") as url:
        status, job = submit(url, photo_path(tmp_path), [], options=json.dumps({"processors": ["frame_enhancer"]}))
        assert status == 202, job
        started = time.monotonic()
        ended = wait_for(url, job["id"], timeout=120)
        assert ended["status"] == "failed" and "limit of 4 s a job" in ended["error"], ended
        assert time.monotonic() - started < 60
        status, job = submit(url, photo_path(tmp_path), [], options=json.dumps({"processors": ["frame_enhancer"]}))
        for _ in range(200):
            if json.loads(call("GET", f"{url}/v1/jobs/{job['id']}")[1])["status"] == "running":
                break
            time.sleep(0.1)
        time.sleep(0.5)
        asked = time.monotonic()
        assert call("DELETE", f"{url}/v1/jobs/{job['id']}")[0] == 202
        assert wait_for(url, job["id"], timeout=60)["status"] == "cancelled"
        assert time.monotonic() - asked < 20


def photo_path(folder: Path) -> Path:
    """A 1200x1200 photo: minutes of work for the embedded frame enhancer on this machine's CPU."""
    path = folder / "enhance-me.png"
    if not path.exists():
        write_image(path, np.random.default_rng(1).integers(0, 255, (1200, 1200, 3), np.uint8))
    return path


def test_a_full_disk_answers_507_and_leaves_nothing(tmp_path, generated):
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("needs a small file system (mount -t tmpfs, as root)")
    try:
        big = tmp_path / "big.png"
        write_image(big, np.random.default_rng(2).integers(0, 255, (2000, 2000, 3), np.uint8))
        assert big.stat().st_size > 11_000_000
        keys = tmp_path / "keys.txt"
        keys.write_text(f"alice {KEY}\n")
        keys.chmod(0o600)
        with _plain_server(tmp_path, keys, "--data", str(mount / "data")) as url:
            status, answer = submit(url, generated["grace_hopper"], [big])
            assert status == 507 and "disk is full" in answer["detail"], answer
            files = mount / "data" / "files"
            assert not [path for path in files.iterdir()] if files.exists() else True
            status, job = submit(url, generated["grace_hopper"], [generated["astronaut"]])
            assert status == 202, job
            assert wait_for(url, job["id"])["status"] == "done"
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_folders_no_record_names_are_swept_at_start(tmp_path, generated):
    with serving(tmp_path) as url:
        status, job = submit(url, generated["grace_hopper"], [generated["astronaut"]])
        wait_for(url, job["id"])
    files = tmp_path / "data" / "files"
    orphan = files / ("ab" * 16) / "inputs"
    orphan.mkdir(parents=True)
    (orphan / "00-face.jpg").write_bytes(b"a face someone uploaded")
    old = time.time() - 120
    for path in (orphan / "00-face.jpg", orphan, orphan.parent):
        os.utime(path, (old, old))
    with serving(tmp_path, "--job-lease", "5"):
        pass
    assert not orphan.parent.exists() and (files / job["id"]).exists()


def test_a_corrupt_job_store_is_named_at_start(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "jobs.sqlite3").write_bytes(b"SQLite format 3\x00" + os.urandom(3000))
    keys = tmp_path / "keys.txt"
    keys.write_text(f"alice {KEY}\n")
    keys.chmod(0o644)
    result = subprocess.run([sys.executable, "-m", "facefusion", "serve", "--api-keys", str(keys), "--data", str(data)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "jobs.sqlite3 cannot be read" in result.stderr and "Traceback" not in result.stderr
    assert "can be read by other users" in result.stderr

"""The web app exposed (``app.py --server-name 0.0.0.0``) attacked as strangers and floods would: real app
processes on 127.0.0.1 (stopped by their PID), raw HTTP, the page's own functions."""
from __future__ import annotations

import concurrent.futures
import http.client
import json
import re
import urllib.request

import numpy as np

from facefusion.options import Options
from facefusion.safety.watermark import Watermarker
from test_exposed_app import _exposed_app, _running_app

ABSOLUTE_PATH = re.compile(r"(?<![\w.:])/(?:[\w.-]+/)+[\w.-]+")


def _login(port: int, password: str, forwarded: str | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    connection.request("POST", "/login", body=f"username=editor&password={password}", headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status


def test_a_burst_of_wrong_passwords_is_cut_at_the_limit(tmp_path):
    with _running_app(tmp_path, "--server-name", "0.0.0.0", "--auth", "editor:right-one") as port:
        with concurrent.futures.ThreadPoolExecutor(25) as pool:
            answers = list(pool.map(lambda number: _login(port, f"guess-{number}"), range(25)))
        assert answers.count(400) <= 5 and answers.count(429) >= 20, answers
        assert _login(port, "right-one") == 429  # locked out now


def test_a_forged_forwarded_address_neither_escapes_nor_locks_out_others(tmp_path):
    # No proxy named: the header is not believed, so rotating it does not escape the lockout ...
    with _running_app(tmp_path, "--server-name", "0.0.0.0", "--auth", "editor:right-one") as port:
        answers = [_login(port, f"guess-{number}", forwarded=f"10.0.0.{number}") for number in range(7)]
        assert answers[:5] == [400] * 5 and answers[5:] == [429, 429], answers
    # ... and behind a proxy the operator named, one visitor's lockout is not another's, and what a client
    # writes at the front of the header is not read.
    with _running_app(tmp_path, "--server-name", "0.0.0.0", "--auth", "editor:right-one",
                      "--forwarded-allow-ips", "127.0.0.1") as port:
        for number in range(5):
            assert _login(port, f"guess-{number}", forwarded=f"198.51.100.{number}, 203.0.113.7") == 400
        assert _login(port, "right-one", forwarded="203.0.113.7") == 429
        assert _login(port, "right-one", forwarded="203.0.113.8") == 200


def _chunked_upload(port: int, megabytes: int, forwarded: str | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    boundary = "facefusion-test-boundary"
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Transfer-Encoding": "chunked"}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"photo.jpg\"\r\n"
               "Content-Type: image/jpeg\r\n\r\n").encode()
        for _ in range(megabytes):
            yield b"\xff" * 1_000_000
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        connection.request("POST", "/gradio_api/upload", body=body(), headers=headers, encode_chunked=True)
        response = connection.getresponse()
        return response.status, response.read().decode()
    except (BrokenPipeError, ConnectionResetError):
        return 0, "connection closed"
    finally:
        connection.close()


def test_uploads_are_counted_as_they_stream_and_budgeted_per_visitor(tmp_path):
    with _running_app(tmp_path, "--server-name", "0.0.0.0", "--upload-budget", "40mb", "--upload-budget-per-client",
                      "3mb", "--forwarded-allow-ips", "127.0.0.1") as port:
        status, text = _chunked_upload(port, 6, forwarded="198.51.100.1")
        assert status == 413 and "limit per visitor" in text, text
        assert _chunked_upload(port, 2, forwarded="198.51.100.2")[0] == 200
        status, text = _chunked_upload(port, 2, forwarded="198.51.100.2")
        assert status == 413 and "in the last hour" in text, text
        assert _chunked_upload(port, 2, forwarded="198.51.100.3")[0] == 200, "another visitor still uploads"
    uploads = [path for path in tmp_path.rglob("*") if path.is_file() and path.stat().st_size > 2_500_000]
    assert not uploads, "a cut upload left no large file"


def test_every_picture_an_exposed_page_shows_carries_the_marks(tmp_path, generated):
    from facefusion.ui import actions

    options = Options(face_selector_mode="many", output_label="AI-generated")
    exposed = actions.Engine(output_dir=tmp_path / "exposed", marks_locked=True, output_label="AI-generated")
    local = actions.Engine(output_dir=tmp_path / "local")
    try:
        marked, _ = actions.preview(exposed, options, [str(generated["astronaut"])], str(generated["grace_hopper"]),
                                    0, [], False)
        plain, _ = actions.preview(local, options.replace(output_label=None), [str(generated["astronaut"])],
                                   str(generated["grace_hopper"]), 0, [], False)
    finally:
        exposed.close()
        local.close()
    assert max(marked.shape[:2]) <= actions.PREVIEW_MAX_SIDE
    reader = Watermarker()
    assert reader.read_picture(np.ascontiguousarray(marked[:, :, ::-1])).marked
    assert not reader.read_picture(np.ascontiguousarray(plain[:, :, ::-1])).marked
    height, width = marked.shape[:2]
    corner = (slice(int(height * 0.9), height), slice(int(width * 0.6), width))
    assert np.abs(marked[corner].astype(int) - plain[corner].astype(int)).max() > 100  # the label
    # Results are named with 128 random bits: one visitor cannot guess another's.
    assert re.search(r"-[0-9a-f]{32}\.png$", exposed.output_path(".png").name)


def test_an_exposed_page_names_no_server_folder_and_takes_no_model_path(tmp_path):
    from facefusion.errors import InvalidInputError
    from facefusion.ui.controls import values_to_options

    with _exposed_app(tmp_path) as (url, demo):
        config = urllib.request.urlopen(f"{url.rstrip('/')}/config", timeout=30).read().decode()
        inside = [path for path in ABSOLUTE_PATH.findall(config) if not path.startswith("/github.com")
                  and not path.startswith("/raw.githubusercontent.com")]
        assert not inside, inside
        dropdowns = [block for block in demo.blocks.values() if getattr(block, "label", "") == "Face swapper model"]
        assert dropdowns and not dropdowns[0].allow_custom_value
    for value in ("/etc/passwd.onnx", "../models/a.onnx", "missing.onnx"):
        try:
            values_to_options(["face_swapper_model"], [value], exposed=True)
        except InvalidInputError as error:
            assert "models folder" in error.message and "/etc" not in error.message
        else:
            raise AssertionError(f"{value} was taken")
    assert json.dumps(values_to_options(["face_swapper_model"], ["auto"], exposed=True).face_swapper_model)

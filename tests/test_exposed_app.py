"""The web app when others can reach it: no downloads by visitors, throttled logins, no server paths."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT
from test_ui import _free_port

sys.path.insert(0, str(ROOT))


def test_downloads_are_off_when_exposed_and_no_event_for_them_exists(tmp_path):
    import app

    assert app.parse_args([]).allow_model_downloads is True
    for exposed in (["--share"], ["--server-name", "0.0.0.0"]):
        assert app.parse_args(exposed).allow_model_downloads is False
    assert app.parse_args(["--share", "--allow-model-downloads"]).allow_model_downloads is True
    for allowed in (True, False):
        demo, engine = app.create_app(tmp_path / str(allowed), allow_downloads=allowed)
        try:
            names = [getattr(block.fn, "__name__", "") for block in demo.fns.values()]
            # Without the event a client cannot reach it by any fn_index: there is nothing to call.
            assert ("fetch_models" in names) is allowed
        finally:
            engine.close()


def test_messages_name_the_users_file_never_the_servers_folders():
    from facefusion.errors import InvalidInputError
    from facefusion.ui.actions import page_error

    error = page_error(InvalidInputError("cannot read video (corrupt or not a video): /tmp/gradio/5f3a9c/my clip.mp4"))
    assert error.message == "cannot read video (corrupt or not a video): my clip.mp4"
    error = page_error(OSError(28, "No space left on device", "/srv/app/facefusion-studio-x/result_3.mp4"))
    assert error.message.startswith("cannot use result_3.mp4: the disk is full")
    assert "/" not in error.message


def _wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise AssertionError("the app did not start")


def _login(port: int, password: str) -> tuple[int, float]:
    data = urllib.parse.urlencode({"username": "editor", "password": password}).encode()
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", data=data, timeout=30) as response:
            return response.status, time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, time.monotonic() - started


@contextlib.contextmanager
def _running_app(tmp_path, *flags: str) -> Iterator[int]:
    """``app.py`` with ``flags`` on a free local port (yields the port); stopped with SIGTERM, which must
    end it cleanly. Its log is left in ``tmp_path / "app.log"``."""
    port = _free_port()
    with (tmp_path / "app.log").open("w") as log:
        app = subprocess.Popen([sys.executable, "app.py", "--server-port", str(port), *flags], cwd=ROOT,
                               env=dict(os.environ, TMPDIR=str(tmp_path)), stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(port)
            yield port
            app.send_signal(signal.SIGTERM)
            assert app.wait(timeout=60) == 0
        finally:
            if app.poll() is None:
                app.kill()
                app.wait()


def test_wrong_passwords_are_slowed_down_then_locked_out_and_logged(tmp_path):
    with _running_app(tmp_path, "--auth", "editor:right-one") as port:
        assert _login(port, "right-one")[0] == 200
        answers = [_login(port, f"guess-{number}") for number in range(5)]
        # Each wrong password is answered late (once about 20 a second could be tried) ...
        assert all(status == 400 and seconds >= 0.9 for status, seconds in answers), answers
        # ... and after five, this client is locked out, the right password included.
        assert _login(port, "guess-6")[0] == 429
        assert _login(port, "right-one")[0] == 429
    text = (tmp_path / "app.log").read_text()
    assert "wrong login from 127.0.0.1" in text and "login locked for 127.0.0.1" in text, text[-3000:]
    assert "Traceback" not in text


def _upload(port: int, size: int) -> tuple[int, str]:
    boundary = "facefusion-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"photo.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + os.urandom(size) + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_uploads_beyond_the_disk_budget_are_refused_with_a_message(tmp_path):
    with _running_app(tmp_path, "--upload-budget", "3mb") as port:
        assert _upload(port, 1_000_000)[0] == 200
        status, text = _upload(port, 4_000_000)
        assert status == 413 and "upload space is full" in text, text
        assert _upload(port, 500_000)[0] == 200, "what still fits is taken"
    log = (tmp_path / "app.log").read_text()
    assert "upload of" in log and "refused" in log


def test_an_api_request_deletes_its_uploads_when_it_ends(tmp_path, generated):
    import shutil
    import uuid

    import app
    import gradio_client

    from facefusion.ui.uploads import upload_folder
    from test_ui import _file

    demo, engine = app.create_app(tmp_path / "out")
    engine.uploads.retire_after = 0  # at once (a running app waits a little for identical uploads in the queue)
    demo.queue(default_concurrency_limit=1, max_size=8)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True,
                            allowed_paths=[str(engine.output_dir)])
    try:
        client = gradio_client.Client(url, verbose=False)
        names = []
        for source in (generated["astronaut"], generated["no_face"]):  # a success and a failure
            name = f"upload-{uuid.uuid4().hex}.png"
            shutil.copy(source, tmp_path / name)
            names.append(name)
            try:
                client.predict([_file(tmp_path / name)], _file(generated["grace_hopper"]), "many", 80, True,
                               api_name="/swap_image")
            except Exception:  # noqa: BLE001 - the source without a face is refused; that is the point here
                pass
        left = [path for path in upload_folder().rglob("upload-*.png") if path.name in names]
        assert not left, left
        assert (tmp_path / names[0]).is_file(), "the caller's own file is never touched"
    finally:
        demo.close()
        engine.close()


def test_an_upload_shared_by_two_holders_is_deleted_only_after_both_let_go(tmp_path, monkeypatch):
    from facefusion.ui import uploads

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    shared = tmp_path / "0f1e2d" / "photo.jpg"
    shared.parent.mkdir()
    shared.write_bytes(b"the same content uploaded twice")
    outside = tmp_path.parent / f"{tmp_path.name}-own-photo.jpg"
    outside.write_bytes(b"a user's own file")
    now = [0.0]
    keeper = uploads.UploadKeeper(retire_after=120, clock=lambda: now[0])
    keeper.hold([str(shared)])
    keeper.hold([str(shared), str(outside)])
    keeper.release([str(shared)])
    now[0] = 500
    keeper.sweep()
    assert shared.is_file(), "still held by the second"
    keeper.release([str(shared), str(outside)])
    keeper.sweep()
    assert shared.is_file(), "kept a little while for an identical upload waiting in the queue"
    now[0] = 700
    keeper.sweep()
    assert not shared.exists() and not shared.parent.exists()
    assert outside.is_file(), "files outside the upload folder are never deleted"
    outside.unlink()


def _queue_call(url: str, fn_index: int, data: list, headers: dict[str, str] | None = None) -> dict:
    """Call a page event the way the page does (the queue, by fn_index) and return its last message."""
    import json
    import uuid

    session = uuid.uuid4().hex
    body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None,
                       "trigger_id": None}).encode()
    request = urllib.request.Request(f"{url.rstrip('/')}/gradio_api/queue/join", data=body, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    urllib.request.urlopen(request, timeout=30).read()
    with urllib.request.urlopen(f"{url.rstrip('/')}/gradio_api/queue/data?session_hash={session}",
                                timeout=60) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("no answer from the queue")


def test_a_client_calling_page_events_directly_cannot_read_server_files(tmp_path):
    """The page's own events answer any client through the queue (the page is one), so none of them may
    reach beyond what that client uploaded: a server path handed in as a file is refused."""
    import app

    from sample_media import astronaut

    demo, engine = app.create_app(tmp_path / "out", allow_downloads=False, output_label=app.EXPOSED_LABEL,
                                  marks_locked=True)
    demo.queue(default_concurrency_limit=1, max_size=8)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True,
                            allowed_paths=[str(engine.output_dir)])
    try:
        index = next(number for number, block in demo.fns.items()
                     if getattr(block.fn, "__name__", "") == "show_sources")
        secret = tmp_path / "secret.png"
        shutil.copy(astronaut(), secret)
        answer = _queue_call(url, index, [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}}]])
        assert answer.get("success") is False, answer
        # The same picture, uploaded by the client, is taken: the refusal was the path's.
        path = _uploaded_path(url, secret)
        answer = _queue_call(url, index, [[{"path": path, "meta": {"_type": "gradio.FileData"}}]])
        assert answer.get("success") is True, answer
    finally:
        demo.close()
        engine.close()


def _uploaded_path(url: str, file: Path) -> str:
    import json

    boundary = "facefusion-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{file.name}\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + file.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{url.rstrip('/')}/gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())[0]


@contextlib.contextmanager
def _exposed_app(tmp_path) -> Iterator[tuple[str, object]]:
    """The app in this process with the middleware an exposed app gets (yields its URL and Blocks)."""
    import app

    from facefusion.ui.exposure import protect_page

    demo, engine = app.create_app(tmp_path / "out", allow_downloads=False, output_label=app.EXPOSED_LABEL,
                                  marks_locked=True)
    demo.queue(default_concurrency_limit=1, max_size=8)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True,
                            allowed_paths=[str(engine.output_dir)],
                            app_kwargs={"middleware": [protect_page(demo)]})
    try:
        yield url, demo
    finally:
        demo.close()
        engine.close()


def _page_cookie(url: str) -> str:
    """The page secret a browser gets with the page."""
    with urllib.request.urlopen(url, timeout=30) as response:
        cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return cookie.split(";", 1)[0]


def _call_route(url: str, api_name: str, data: list, headers: dict[str, str] | None = None) -> str:
    """Call an event by name on /gradio_api/call/NAME, as a script would; the stream's last event."""
    import json

    request = urllib.request.Request(f"{url.rstrip('/')}/gradio_api/call/{api_name}", method="POST",
                                     data=json.dumps({"data": data}).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})})
    event_id = json.loads(urllib.request.urlopen(request, timeout=30).read())["event_id"]
    request = urllib.request.Request(f"{url.rstrip('/')}/gradio_api/call/{api_name}/{event_id}",
                                     headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as stream:
        return stream.read().decode()


def test_an_exposed_app_answers_its_page_events_only_to_its_page(tmp_path, generated):
    """Attack: the page's events called by a script, with a forged Origin, a forged secret and by name."""
    import gradio_client

    from test_ui import _file

    with _exposed_app(tmp_path) as (url, demo):
        index, block = next((number, block) for number, block in demo.fns.items()
                            if getattr(block.fn, "__name__", "") == "show_sources")
        path = _uploaded_path(url, Path(generated["astronaut"]))
        data = [[{"path": path, "meta": {"_type": "gradio.FileData"}}]]
        origin = url.rstrip("/")
        for headers in ({}, {"Origin": origin}, {"Origin": origin, "Cookie": "facefusion_page=made-up.0123"}):
            refused = _queue_call(url, index, data, headers)
            assert refused.get("success") is False and "belongs to the page" in json.dumps(refused), refused
        if block.api_name:
            assert "belongs to the page" in _call_route(url, block.api_name, data, {"Origin": origin})
        # From the page (it carries the secret its page load set) it answers, on every route.
        cookie = {"Cookie": _page_cookie(url)}
        assert _queue_call(url, index, data, cookie).get("success") is True
        if block.api_name:
            assert "belongs to the page" not in _call_route(url, block.api_name, data, cookie)
        # The documented endpoints stay open to scripts.
        client = gradio_client.Client(url, verbose=False)
        output = client.predict([_file(generated["astronaut"])], _file(generated["grace_hopper"]), "many", 80, True,
                                api_name="/swap_image")
        assert Path(output).is_file()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_page_works_in_a_browser_when_exposed(tmp_path, generated):
    from test_ui import ARTIFACTS, _browser_page, keep_failure_screenshot

    with _exposed_app(tmp_path) as (url, _):
        with _browser_page(url, generated["astronaut"], generated["grace_hopper"]) as page:
            # The page's own events answer it (it carries its secret): the preview comes, labelled.
            page.wait_for_selector("#preview img", timeout=180000)
            page.locator("#preview").screenshot(path=str(ARTIFACTS / "ui_exposed_preview.png"))
            page.click("#start")
            try:
                page.wait_for_selector("#result-image img", timeout=180000)
                page.wait_for_function("document.querySelector('#status').innerText.includes('done')",
                                       timeout=180000)
            except Exception:
                keep_failure_screenshot(page, "ui_exposed_failure.png")
                raise
            page.screenshot(path=str(ARTIFACTS / "ui_exposed.png"), full_page=False)


def test_an_exposed_apps_results_carry_the_label_and_need_consent(tmp_path, generated):
    import gradio_client
    import numpy as np

    from facefusion.media.image import read_image
    from test_ui import _file

    with _exposed_app(tmp_path) as (url, _):
        client = gradio_client.Client(url, verbose=False)
        with pytest.raises(Exception, match="consent"):
            client.predict([_file(generated["astronaut"])], _file(generated["grace_hopper"]), "many", 80,
                           api_name="/swap_image")
        output = client.predict([_file(generated["astronaut"])], _file(generated["grace_hopper"]), "many", 80, True,
                                api_name="/swap_image")
    result, target = read_image(output).frame, read_image(generated["grace_hopper"]).frame
    height, width = target.shape[:2]
    corner = (slice(int(height * 0.9), height), slice(int(width * 0.6), width))
    assert np.abs(result[corner].astype(int) - target[corner].astype(int)).max() > 100
    assert result[corner].max() >= 190  # the white text at the default opacity of 80 %


def test_an_exposed_page_cannot_change_the_label_or_turn_the_watermark_off(tmp_path):
    import app
    import gradio as gr

    for locked in (True, False):
        demo, engine = app.create_app(tmp_path / str(locked), allow_downloads=False, output_label="AI-generated",
                                      marks_locked=locked)
        try:
            marks = {block.label: block for block in demo.blocks.values()
                     if isinstance(block, (gr.Checkbox, gr.Textbox)) and block.label in ("Output label",
                                                                                         "Output watermark")}
            assert set(marks) == {"Output label", "Output watermark"}
            assert marks["Output label"].value == "AI-generated"
            assert all((block.interactive is False) == locked for block in marks.values())
        finally:
            demo.close()
            engine.close()

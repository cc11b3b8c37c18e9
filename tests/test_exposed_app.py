"""The web app when others can reach it: no downloads by visitors, throttled logins, no server paths."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


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


def _login(port: int, password: str) -> tuple[int, float]:
    data = urllib.parse.urlencode({"username": "editor", "password": password}).encode()
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", data=data, timeout=30) as response:
            return response.status, time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, time.monotonic() - started


def test_wrong_passwords_are_slowed_down_then_locked_out_and_logged(tmp_path):
    port = _free_port()
    log_path = tmp_path / "app.log"
    log = log_path.open("w")
    app = subprocess.Popen([sys.executable, "app.py", "--server-port", str(port), "--auth", "editor:right-one"],
                           cwd=ROOT, env=dict(os.environ, TMPDIR=str(tmp_path)), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # the login page answers
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert _login(port, "right-one")[0] == 200
        answers = [_login(port, f"guess-{number}") for number in range(5)]
        # Each wrong password is answered late (once about 20 a second could be tried) ...
        assert all(status == 400 and seconds >= 0.9 for status, seconds in answers), answers
        # ... and after five, this client is locked out, the right password included.
        assert _login(port, "guess-6")[0] == 429
        assert _login(port, "right-one")[0] == 429
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=60) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        log.close()
    text = log_path.read_text()
    assert "wrong login from 127.0.0.1" in text and "login locked for 127.0.0.1" in text, text[-3000:]
    assert "Traceback" not in text



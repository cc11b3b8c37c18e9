"""The web UI, driven as its users drive it: through gradio_client and through a real browser."""
from __future__ import annotations

import contextlib
import shutil
import socket
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from conftest import ARTIFACTS, ROOT, has_shared, shared_file
from facefusion.media.image import read_image
from facefusion.media.video import probe_video
from sample_media import make_clip

gradio_client = pytest.importorskip("gradio_client")
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import app

    demo, engine = app.create_app(tmp_path_factory.mktemp("ui-output"))
    demo.queue(default_concurrency_limit=1, max_size=8)
    from starlette.middleware import Middleware

    from facefusion.ui.layout import PAGE_CSS
    from facefusion.ui.webrtc import WhipEndpoint

    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True,
                            quiet=True, allowed_paths=[str(engine.output_dir)], max_file_size="200mb", css=PAGE_CSS,
                            app_kwargs={"middleware": [Middleware(WhipEndpoint, tokens=engine.live_tokens)]})
    yield url
    demo.close()
    engine.close()


@pytest.fixture(scope="module")
def client(server):
    return gradio_client.Client(server, verbose=False)


def _file(path: Path | str):
    return gradio_client.handle_file(str(path))


def test_swap_image_endpoint(client, generated):
    output = client.predict([_file(generated["astronaut"])], _file(generated["grace_hopper"]), "many", 80, True,
                            api_name="/swap_image")
    result = read_image(output).frame
    target = read_image(generated["grace_hopper"]).frame
    assert result.shape == target.shape
    assert np.abs(result.astype(int) - target).mean() > 1
    assert Path(output).suffix == ".jpg", "a JPEG target gives a JPEG result, as every other front end does"


def test_the_preview_analyser_follows_every_option_it_is_made_from(tmp_path):
    from facefusion.analysis.analyse import ANALYSER_OPTIONS
    from facefusion.options import Options
    from facefusion.ui.actions import Engine

    engine = Engine(output_dir=tmp_path)
    try:
        with engine.analysing(Options()) as first:
            pass
        with engine.analysing(Options(face_detector_angles=[0])) as upright_only:
            pass
        with engine.analysing(Options()) as again:
            pass
        assert upright_only is not first and again is first
        assert upright_only.angles == ()  # upright only: no quarter turns tried
    finally:
        engine.close()
    assert "face_detector_angles" in ANALYSER_OPTIONS


def test_swap_image_endpoint_on_real_photos(client):
    output = client.predict([_file(shared_file("woman_frontal_03.jpg"))], _file(shared_file("two_faces_01.jpg")),
                            "many", 80, True, api_name="/swap_image")
    assert read_image(output).frame.shape == read_image(shared_file("two_faces_01.jpg")).frame.shape


def test_swap_video_endpoint_keeps_audio(client, tmp_path):
    clip = shared_file("video_talking_man_01.mp4") if has_shared() else make_clip(tmp_path / "clip.mp4", frames=30,
                                                                                   size=(640, 360), face_width=110)
    output = client.predict([_file(_source(tmp_path))], _file(clip), "many", 80, True, api_name="/swap_video")
    made, source = probe_video(output), probe_video(clip)
    assert made.frame_count == source.frame_count
    assert made.audio_streams == 1


def _source(tmp_path: Path) -> Path:
    from sample_media import grace_hopper

    return Path(shutil.copy(grace_hopper(), tmp_path / "source.jpg"))


def test_a_bad_file_gives_a_readable_error_and_the_next_call_works(client, tmp_path, generated):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff" + bytes(500))
    with pytest.raises(Exception) as raised:
        client.predict([_file(generated["astronaut"])], _file(broken), "many", 80, True, api_name="/swap_image")
    assert "cannot read image" in str(raised.value)
    with pytest.raises(Exception) as raised:
        client.predict([_file(generated["no_face"])], _file(generated["grace_hopper"]), "many", 80, True,
                       api_name="/swap_image")
    assert "no face found in source image" in str(raised.value)
    output = client.predict([_file(generated["astronaut"])], _file(generated["grace_hopper"]), "many", 80, True,
                            api_name="/swap_image")
    assert Path(output).is_file()


def test_two_clients_at_once_both_finish(server, generated):
    results: dict[int, str] = {}

    def call(number: int) -> None:
        own = gradio_client.Client(server, verbose=False)
        results[number] = own.predict([_file(generated["astronaut"])], _file(generated["two_people"]), "many", 80, True,
                                      api_name="/swap_image")

    threads = [threading.Thread(target=call, args=(number,)) for number in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == [0, 1]
    assert all(Path(path).is_file() for path in results.values())


@pytest.mark.parametrize("path", ["/etc/passwd", str(ROOT / "README.md"), "../../../../etc/hostname"])
def test_files_the_app_did_not_produce_are_refused(server, path):
    for prefix in ("gradio_api/file=", "file="):
        try:
            with urllib.request.urlopen(f"{server}{prefix}{path}", timeout=10) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, b""
        assert status != 200 or b"root:" not in body and b"facefusion-studio" not in body


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _open_with(browser, server: str, source: Path, target: Path, agree: bool = True):
    """A page of the app with a source and a target uploaded, once its preview is shown (with ``agree``, the
    consent box ticked)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(server)
    page.wait_for_selector("#start", timeout=90000)
    page.locator("#sources input[type=file]").set_input_files(str(source))
    page.locator("#target input[type=file]").set_input_files(str(target))
    page.wait_for_selector("#preview img", timeout=180000)
    if agree:
        page.locator("#consent input").check()
    return page


def _launch(driver):
    """Debian's chromium, headless, with the flags this sandbox needs (no background network calls)."""
    return driver.chromium.launch(executable_path=_chromium(), headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"])


@contextlib.contextmanager
def _browser_page(server: str, source: Path, target: Path, agree: bool = True):
    """A page of the app in headless chromium with a source and a target uploaded (closed afterwards)."""
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as driver:
        browser = _launch(driver)
        try:
            yield _open_with(browser, server, source, target, agree)
        finally:
            browser.close()


def keep_failure_screenshot(page, name: str) -> None:
    """What the page showed when a browser step failed, for people to look at; a screenshot that cannot be
    taken in time is left out, so the step's own error is the one reported."""
    try:
        page.screenshot(path=str(ARTIFACTS / name), full_page=True, timeout=30000)
    except Exception:
        pass


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_browser_upload_start_and_result(server, generated):
    with _browser_page(server, generated["astronaut"], generated["grace_hopper"]) as page:
        page.click("#start")
        page.wait_for_selector("#result-image img", timeout=180000)
        page.wait_for_function("document.querySelector('#status').innerText.includes('done')", timeout=180000)
        page.screenshot(path=str(ARTIFACTS / "ui_result.png"), full_page=True)
        assert page.locator("#result-image img").count() == 1


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_browser_start_asks_for_consent_once(server, generated):
    with _browser_page(server, generated["astronaut"], generated["grace_hopper"], agree=False) as page:
        page.click("#start")
        page.wait_for_function("document.querySelector('#status').innerText.includes('Nothing was started')",
                               timeout=90000)
        assert page.locator("#result-image img").count() == 0
        page.screenshot(path=str(ARTIFACTS / "ui_consent.png"), full_page=False)
        page.locator("#consent input").check()
        page.click("#start")
        page.wait_for_function("document.querySelector('#status').innerText.includes('done')", timeout=180000)
        assert page.locator("#result-image img").count() == 1
        assert page.locator("#consent input").is_checked()  # stays given for the page's next runs


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_browser_video_run_shows_progress_and_stops(server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    from sample_media import grace_hopper

    clip = make_clip(tmp_path / "long.mp4", frames=900, size=(480, 270), face_width=90)  # still running when Stop comes
    with playwright.sync_playwright() as driver:
        browser = _launch(driver)
        try:
            page = _open_with(browser, server, grace_hopper(), clip)
            page.click("#start")
            try:
                page.wait_for_function("document.querySelector('#status').innerText.includes('frames/s')",
                                       timeout=180000)
                # A wait, not a measure: on a machine busy with other tests the first live frame comes late.
                page.wait_for_selector("#preview img", timeout=180000)
                # Stop at once: a screenshot first took a busy browser longer than the rest of the run.
                page.click("#stop")
                page.wait_for_function("document.querySelector('#status').innerText.includes('stopped')",
                                       timeout=120000)
                page.screenshot(path=str(ARTIFACTS / "ui_video_stopped.png"), full_page=True, timeout=120000)
            except Exception:
                keep_failure_screenshot(page, "ui_video_failure.png")
                raise
        finally:
            browser.close()


def test_launch_flags_and_credentials(tmp_path, monkeypatch):
    import app

    monkeypatch.delenv("SPACE_ID", raising=False)
    args = app.parse_args([])
    assert (args.server_name, args.server_port, args.share, args.max_file_size) == ("127.0.0.1", 7860, False, "1gb")
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    assert app.parse_args([]).server_name == "0.0.0.0"
    assert app.read_credentials("ada:secret") == [("ada", "secret")]
    logins = tmp_path / "logins.txt"
    logins.write_text("# who may log in\nada:secret\ngrace:cobol\n")
    assert app.read_credentials(str(logins)) == [("ada", "secret"), ("grace", "cobol")]
    with pytest.raises(SystemExit, match="not user:password"):
        app.read_credentials("nopassword")


def test_widgets_mark_non_commercial_models_and_missing_providers(monkeypatch):
    from facefusion.inference import runtime
    from facefusion.ui.controls import default_widget

    monkeypatch.setattr(runtime, "available_providers", lambda: ["cpu"])
    detectors = dict((value, label) for label, value in default_widget("face_detector_model").choices)
    assert detectors["retinaface"].startswith("retinaface (") and "NON-COMMERCIAL" in detectors["retinaface"]
    assert detectors["yolo_face"] == "yolo_face"
    providers = dict((value, label) for label, value in default_widget("execution_providers").choices)
    assert providers["cpu"] == "cpu" and providers["cuda"] == "cuda (not in this installation)"
    assert default_widget("face_swapper_model").allow_custom_value, "a model slot takes the path of an .onnx file"


def test_the_faces_gallery_says_which_faces_are_selected_and_how_near(tmp_path, generated):
    from facefusion import Options
    from facefusion.ui.actions import Engine, preview

    engine = Engine(tmp_path)
    try:
        _, gallery = preview(engine, Options(face_selector_mode="reference", face_selector_order="left-right"),
                             [str(generated["astronaut"])], str(generated["two_people"]), 0, [], False)
    finally:
        engine.close()
    captions = [caption for _, caption in gallery]
    assert len(captions) == 2 and captions[0].startswith("face 0 · ") and " px" in captions[0]
    assert "distance 0.00" in captions[0] and captions[0].endswith("selected"), "the reference face itself"
    assert "selected" not in captions[1] and "distance" in captions[1], "the other person"


def test_the_preview_reads_a_video_frame_once_while_the_file_is_unchanged(tmp_path):
    import os

    from facefusion.ui.actions import Engine

    clip = make_clip(tmp_path / "clip.mp4", frames=12, size=(320, 180), face_width=60, audio=False)
    engine = Engine(tmp_path / "out")
    first = engine.frame(str(clip), 5)
    assert engine.frame(str(clip), 5) is first, "the same frame is not decoded again"
    assert engine.frame(str(clip), 6) is not first
    os.utime(clip, ns=(clip.stat().st_atime_ns, clip.stat().st_mtime_ns + 10**9))
    assert engine.frame(str(clip), 5) is not first, "a changed file is read again"


def test_face_thumbnails_show_the_whole_face_square(tmp_path, generated, analyser):
    from facefusion.media.image import read_image
    from facefusion.ui.actions import THUMBNAIL_SIDE, Engine, face_thumbnail, source_thumbnails

    frame = read_image(generated["grace_hopper"]).frame
    face = analyser.analyse(frame)[0]
    thumbnail = face_thumbnail(frame, face.bbox)
    assert thumbnail.shape == (THUMBNAIL_SIDE, THUMBNAIL_SIDE, 3)
    # The face sits whole in the middle: the thumbnail's own analysis finds it, well inside the square.
    found = analyser.analyse(np.ascontiguousarray(thumbnail[:, :, ::-1]))
    assert found and all(0 <= value <= THUMBNAIL_SIDE for value in found[0].bbox)
    assert 0.4 * THUMBNAIL_SIDE < found[0].size < 0.9 * THUMBNAIL_SIDE
    # A face at the picture's edge is padded, never squeezed.
    corner = face_thumbnail(frame, np.array([0, 0, 60, 80], np.float32))
    assert corner.shape == (THUMBNAIL_SIDE, THUMBNAIL_SIDE, 3)
    engine = Engine(tmp_path)
    try:
        shown = source_thumbnails(engine, [str(generated["astronaut"]), str(generated["no_face"])])
    finally:
        engine.close()
    assert shown[0][1].startswith("source 0 · ") and shown[0][0].shape == (THUMBNAIL_SIDE, THUMBNAIL_SIDE, 3)
    assert shown[1][1] == "source 1: no face found"


def test_neural_only_options_say_why_they_are_off(tmp_path, monkeypatch):
    from facefusion.ui import actions

    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(tmp_path))
    assert actions.embedded_swapper_runs("auto") and actions.embedded_swapper_runs("landmark")
    assert not actions.embedded_swapper_runs("inswapper_128")


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_browser_shows_face_thumbnails_and_disabled_neural_options(server, generated):
    with _browser_page(server, generated["astronaut"], generated["two_people"]) as page:
        page.wait_for_function("document.querySelectorAll('#faces img').length >= 2", timeout=180000)
        page.wait_for_function("document.querySelectorAll('#source_faces img').length >= 1", timeout=180000)
        for selector in ("#faces img", "#source_faces img"):
            box = page.locator(selector).first.bounding_box()
            assert box is not None and 40 < box["width"] < 200 and abs(box["width"] - box["height"]) < 4, box
        assert "face 0 · " in page.locator("#faces").inner_text()
        page.get_by_text("Face swapper", exact=True).first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "ui_faces.png"), full_page=True)
        assert page.get_by_text("Neural engine only").count() >= 1


def test_the_app_stopped_with_sigterm_leaves_nothing_behind(tmp_path):
    """`kill`, `docker stop` and systemd send SIGTERM: the results folder and the uploads (the examples
    the page caches count as uploads) are removed, as on Ctrl+C."""
    import os
    import signal
    import subprocess
    import time

    port = _free_port()
    log = (tmp_path / "app.log").open("w")
    app = subprocess.Popen([sys.executable, "app.py", "--server-port", str(port)], cwd=ROOT,
                           env=dict(os.environ, TMPDIR=str(tmp_path)), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert list(tmp_path.glob("facefusion-studio-*")), "the app makes its results folder in the temp folder"
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=60) == 0, (tmp_path / "app.log").read_text()[-2000:]
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        log.close()
    assert not list(tmp_path.glob("facefusion-studio-*"))
    assert not [path for path in tmp_path.rglob("*") if path.is_file() and path.suffix in (".png", ".jpg", ".mp4")]
    assert "Traceback" not in (tmp_path / "app.log").read_text()


def test_page_events_at_once_share_the_preview_models_safely(tmp_path, generated):
    """The sources' gallery and the preview run as two page events at once on the same shared analyser;
    its mediapipe graphs take one picture at a time (at once, a graph failed on its timestamps)."""
    from facefusion.options import Options
    from facefusion.ui.actions import Engine, preview, source_thumbnails

    engine = Engine(tmp_path)
    errors: list[BaseException] = []

    def repeat(work) -> None:
        try:
            for _ in range(6):
                work()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    sources = [str(generated["astronaut"])]
    works = [lambda: source_thumbnails(engine, sources),
             lambda: preview(engine, Options(face_selector_mode="many"), sources, str(generated["grace_hopper"]), 0,
                             [], False)]
    threads = [threading.Thread(target=repeat, args=(work,)) for work in works]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        engine.close()
    assert not errors, errors


def write_y4m(clip: Path, output: Path, frames: int) -> Path:
    """The first ``frames`` of ``clip`` as raw Y4M (4:2:0), the file chromium's fake camera plays (and loops)."""
    import av

    with av.open(str(clip)) as container, output.open("wb") as file:
        stream = container.streams.video[0]
        file.write(f"YUV4MPEG2 W{stream.width} H{stream.height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for index, frame in enumerate(container.decode(video=0)):
            if index >= frames:
                break
            file.write(b"FRAME\n" + frame.to_ndarray(format="yuv420p").tobytes())
    return output


def _camera_clip(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(clip, source photo, the clip as chromium's fake camera file)."""
    from sample_media import grace_hopper

    if has_shared():
        clip, source = shared_file("video_expressions_long_01.mp4"), shared_file("woman_frontal_01.webp")
    else:
        clip, source = make_clip(tmp_path / "camera.mp4", frames=60, size=(480, 480), face_width=150), grace_hopper()
    return clip, source, write_y4m(clip, tmp_path / "camera.y4m", 60)


@contextlib.contextmanager
def _live_page(server: str, source: Path, camera: Path):
    """The app's Live tab in chromium whose fake camera plays ``camera``, with ``source`` uploaded and consent
    given."""
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=_chromium(), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}"])
        try:
            page = browser.new_context(permissions=["camera"], viewport={"width": 1400, "height": 1400}).new_page()
            page.goto(server)
            page.wait_for_selector("#start", timeout=90000)
            page.locator("#sources input[type=file]").set_input_files(str(source))
            page.get_by_role("tab", name="Live").click()
            page.locator("#live-consent input").check()
            yield page
        finally:
            browser.close()


def _reads_as_source(picture: np.ndarray, clip: Path, source: Path, analyser) -> bool:
    """Whether the picture's face is nearer the source person than the camera's own."""
    import av

    from conftest import embedding_of
    from facefusion.analysis.recognise import embedding_distance

    with av.open(str(clip)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="bgr24")
    wanted, before = embedding_of(analyser, read_image(source).frame), embedding_of(analyser, first)
    seen = embedding_of(analyser, picture)
    return embedding_distance(seen, wanted) < embedding_distance(seen, before)


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_browser_live_tab_swaps_the_camera(server, tmp_path, analyser):
    """Chromium's fake camera plays a clip; the Live tab sends its frames and shows them swapped."""
    import base64

    clip, source, camera = _camera_clip(tmp_path)
    with _live_page(server, source, camera) as page:
        try:
            page.get_by_text("Click to Access Webcam").click(timeout=60000)
            page.locator("#live-camera button[aria-label='capture photo']").click(timeout=60000)
            page.wait_for_function(
                "document.querySelector('#live-speed') && "
                "document.querySelector('#live-speed').innerText.includes('1 face(s) swapped')", timeout=180000)
            source_url = page.locator("#live-result img").first.get_attribute("src") or ""
            page.screenshot(path=str(ARTIFACTS / "ui_live.png"), full_page=True)
        except Exception:
            keep_failure_screenshot(page, "ui_live_failure.png")
            raise
        data = (base64.b64decode(source_url.split(",", 1)[1]) if source_url.startswith("data:")
                else page.request.get(source_url).body())
    shown = tmp_path / "shown.jpg"
    shown.write_bytes(data)
    picture = read_image(shown).frame
    assert picture.shape[:2] == (480, 480)
    assert _reads_as_source(picture, clip, source, analyser)


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_browser_low_latency_mode_swaps_the_camera_over_webrtc(server, tmp_path, analyser):
    """The same camera over WebRTC (no ICE server, host candidates on this machine): drawn frames come back as
    a video stream."""
    import base64

    clip, source, camera = _camera_clip(tmp_path)
    with _live_page(server, source, camera) as page:
        try:
            page.get_by_text("Low-latency mode (WebRTC)").click()
            page.locator("#live-webrtc-start").click()
            page.wait_for_function("document.querySelector('#live-webrtc-status').innerText.includes("
                                   "'frames/s received')", timeout=180000)
            page.wait_for_timeout(1500)  # past the first frames (drawn while the models load)
            png = page.evaluate("""() => {
                const video = document.querySelector('#live-webrtc-video');
                const canvas = document.createElement('canvas');
                canvas.width = video.videoWidth; canvas.height = video.videoHeight;
                canvas.getContext('2d').drawImage(video, 0, 0);
                return canvas.toDataURL('image/png');
            }""")
            status = page.locator("#live-webrtc-status").inner_text()
            print("low-latency mode:", status)
            page.screenshot(path=str(ARTIFACTS / "ui_live_webrtc.png"), full_page=True)
            page.locator("#live-webrtc-stop").click()
            page.wait_for_function("document.querySelector('#live-webrtc-status').innerText.includes('stopped')",
                                   timeout=30000)
        except Exception:
            keep_failure_screenshot(page, "ui_live_webrtc_failure.png")
            raise
    frame = tmp_path / "webrtc.png"
    frame.write_bytes(base64.b64decode(png.split(",", 1)[1]))
    picture = read_image(frame).frame
    assert picture.shape[:2] == (480, 480), status
    assert _reads_as_source(picture, clip, source, analyser)


def test_a_live_token_opens_one_connection_and_a_stranger_gets_none(server):
    import urllib.request

    request = urllib.request.Request(f"{server.rstrip('/')}/live/whip?token=guessed", data=b"v=0\r\n",
                                     method="POST", headers={"Content-Type": "application/sdp"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 403
    assert b"unknown, used or expired" in refused.value.read()


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_browser_low_latency_mode_refuses_a_protected_person_and_says_so(tmp_path):
    import app
    from starlette.middleware import Middleware

    from facefusion.media.image import write_image
    from facefusion.safety.policy import SafetyPolicy
    from facefusion.ui.layout import PAGE_CSS
    from facefusion.ui.webrtc import WhipEndpoint
    from sample_media import astronaut, grace_hopper

    protected = tmp_path / "protected"
    protected.mkdir()
    write_image(protected / "astronaut.png", read_image(astronaut()).frame)
    demo, engine = app.create_app(tmp_path / "output", safety=SafetyPolicy(protected_faces=str(protected)))
    demo.queue(default_concurrency_limit=1, max_size=8)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True,
                            css=PAGE_CSS, app_kwargs={"middleware": [Middleware(WhipEndpoint, tokens=engine.live_tokens)]})
    try:
        clip = make_clip(tmp_path / "camera.mp4", frames=60, size=(480, 480), face_width=150)
        with _live_page(url, grace_hopper(), write_y4m(clip, tmp_path / "camera.y4m", 60)) as page:
            try:
                page.get_by_text("Low-latency mode (WebRTC)").click()
                page.locator("#live-webrtc-start").click()
                page.wait_for_function("document.querySelector('#live-webrtc-status').innerText.includes("
                                       "'the live connection ended: refused')", timeout=180000)
                assert "protected person" in page.locator("#live-webrtc-status").inner_text()
            except Exception:
                keep_failure_screenshot(page, "ui_live_protected_failure.png")
                raise
    finally:
        demo.close()
        engine.close()

"""Model downloads against a local HTTP server: resume, mirrors, checksums, failures, offline."""
from __future__ import annotations

import http.server
import socket
import threading
import time
import zlib

import pytest

from facefusion.inference.catalogue import CATALOGUE, Contract, ModelEntry, find
from facefusion.inference.download import ChecksumError, ModelMissingError, download, models_dir, require, verify

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
CRC = f"{zlib.crc32(PAYLOAD) & 0xFFFFFFFF:08x}"


class Handler(http.server.BaseHTTPRequestHandler):
    resumed_from: list[int] = []
    """Where ranged requests for the cut file started."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        kind, name = self.path.strip("/").split("/", 1)
        if kind == "missing":
            self.send_error(404)
            return
        if name.endswith(".hash"):
            if kind == "slow":
                time.sleep(2)
            if kind == "silent":  # a host behind a firewall that lets the connection in and then says nothing
                time.sleep(3)
            body = (("0" * 8) if kind == "bad" else CRC).encode()
            self._send(200, body, len(body))
            return
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        if kind == "cut" and start == 0:
            # Promise the whole file, deliver half, hang up.
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if start:
            if kind == "cut":  # recorded before answering: the client may finish before this thread resumes
                Handler.resumed_from.append(start)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
            self.send_header("Content-Length", str(len(PAYLOAD) - start))
            self.end_headers()
            self.wfile.write(PAYLOAD[start:])
            return
        self._send(200, PAYLOAD, len(PAYLOAD))

    def _send(self, status: int, body: bytes, length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


ENTRY = ModelEntry("test_model", "swapper", "m.onnx", "models-test", "MIT", False, Contract(inputs=(), outputs=()))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_download_verifies_and_places_the_file(server, tmp_path):
    seen = []
    path = download(ENTRY, tmp_path, urls=(f"{server}/good/m.onnx",), progress=lambda done, total: seen.append(done))
    assert path.read_bytes() == PAYLOAD
    assert seen[-1] == len(PAYLOAD)
    assert verify(ENTRY, tmp_path).state == "ok"
    assert not list(tmp_path.glob("*.part"))


def test_a_cut_connection_is_resumed(server, tmp_path):
    Handler.resumed_from.clear()
    path = download(ENTRY, tmp_path, urls=(f"{server}/cut/m.onnx",))
    assert path.read_bytes() == PAYLOAD
    # The follow-up asked only for what was missing (how much of the half arrived depends on timing).
    assert Handler.resumed_from and all(0 < start <= len(PAYLOAD) // 2 for start in Handler.resumed_from)


def test_mirrors_are_tried_in_order(server, tmp_path):
    path = download(ENTRY, tmp_path, urls=(f"{server}/missing/m.onnx", f"http://127.0.0.1:{_closed_port()}/m.onnx",
                                           f"{server}/good/m.onnx"))
    assert path.read_bytes() == PAYLOAD


def test_checksum_mismatch_removes_the_file(server, tmp_path):
    with pytest.raises(ChecksumError, match="checksum"):
        download(ENTRY, tmp_path, urls=(f"{server}/bad/m.onnx",))
    assert list(tmp_path.iterdir()) == []


def test_not_found_names_file_urls_and_folder(server, tmp_path):
    with pytest.raises(ModelMissingError) as raised:
        download(ENTRY, tmp_path, urls=(f"{server}/missing/m.onnx",))
    message = str(raised.value)
    assert "m.onnx" in message and "HTTP 404" in message and str(tmp_path) in message
    assert raised.value.exit_code == 2


def test_timeout_moves_on_quickly(server, tmp_path):
    started = time.perf_counter()
    with pytest.raises(ModelMissingError, match="timed out|timeout"):
        download(ENTRY, tmp_path, urls=(f"{server}/slow/m.onnx",), timeout=0.3, retries=0)
    assert time.perf_counter() - started < 5


def test_no_network_fails_in_seconds_with_the_published_addresses(tmp_path):
    started = time.perf_counter()
    entry = find("inswapper_128")
    with pytest.raises(ModelMissingError) as raised:
        download(entry, tmp_path, urls=(f"http://127.0.0.1:{_closed_port()}/inswapper_128.onnx",), timeout=2)
    assert time.perf_counter() - started < 5
    with pytest.raises(ModelMissingError) as raised:
        require(entry, tmp_path)
    message = str(raised.value)
    assert "inswapper_128.onnx" in message and str(tmp_path) in message
    assert "github.com/facefusion/facefusion-assets/releases/download/models-3.0.0/inswapper_128.onnx" in message


def test_verify_finds_a_corrupted_file(server, tmp_path):
    path = download(ENTRY, tmp_path, urls=(f"{server}/good/m.onnx",))
    path.write_bytes(PAYLOAD[:-1] + b"x")
    assert verify(ENTRY, tmp_path).state == "corrupt"


def test_catalogue_names_are_unique_and_required_models_present():
    names = [entry.name for entry in CATALOGUE]
    assert len(names) == len(set(names))
    from facefusion.inference.catalogue import with_companions

    assert [entry.name for entry in with_companions(["simswap_256", "simswap_256"])] == ["simswap_256",
                                                                                      "crossface_simswap"]
    for required in ("inswapper_128", "inswapper_128_fp16", "simswap_256", "hyperswap_1a_256", "arcface_w600k_r50",
                     "scrfd_2.5g", "retinaface_10g", "yoloface_8n", "gfpgan_1.4", "codeformer", "gpen_bfr_512",
                     "restoreformer_plus_plus", "real_esrgan_x2", "real_esrgan_x4", "real_esrgan_x2_fp16",
                     "real_esrgan_x4_fp16", "xseg_1", "bisenet_resnet_34"):
        assert required in names
    assert find("inswapper_128").non_commercial and not find("gfpgan_1.4").non_commercial


def test_models_folder_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(tmp_path))
    assert models_dir() == tmp_path
    assert models_dir(tmp_path / "other") == tmp_path / "other"


def test_models_cli_list_download_offline_and_verify(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "facefusion", "models", *args, "--models-dir", str(tmp_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    listed = cli("list")
    assert listed.returncode == 0
    assert "inswapper_128.onnx" in listed.stdout and "NON-COMMERCIAL" in listed.stdout
    assert str(tmp_path) in listed.stdout
    started = time.perf_counter()
    offline = cli("download", "inswapper_128")
    assert offline.returncode == 2 and time.perf_counter() - started < 30
    assert "inswapper_128.onnx" in offline.stderr and str(tmp_path) in offline.stderr and "Traceback" not in offline.stderr
    unknown = cli("download", "no_such_model")
    assert unknown.returncode == 2 and "unknown model" in unknown.stderr
    (tmp_path / "gfpgan_1.4.onnx").write_bytes(b"not the real file")
    (tmp_path / "gfpgan_1.4.onnx.hash").write_text("crc32:00000000\n")
    checked = cli("verify")
    assert checked.returncode == 2 and "corrupt" in checked.stderr


def test_ui_download_offline_says_where_to_put_the_file(tmp_path, monkeypatch):
    from facefusion.ui.actions import download_models, model_table

    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(tmp_path))
    assert "gfpgan_1.4" in model_table() and str(tmp_path) in model_table()
    with pytest.raises(ModelMissingError) as raised:
        download_models(["gfpgan_1.4"])
    assert str(tmp_path) in str(raised.value) and "gfpgan_1.4.onnx" in str(raised.value)


def test_a_silent_host_is_left_for_the_next_mirror_within_seconds(server, tmp_path, monkeypatch):
    from facefusion.inference import download as download_module

    monkeypatch.setattr(download_module, "FIRST_ANSWER_TIMEOUT", 1.0)
    started = time.perf_counter()
    path = download(ENTRY, tmp_path, urls=(f"{server}/silent/m.onnx", f"{server}/good/m.onnx"))
    assert path.read_bytes() == PAYLOAD
    assert time.perf_counter() - started < 2.5, "the silent host held the download up"

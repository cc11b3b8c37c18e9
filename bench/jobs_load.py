"""The job API under load with misbehaving callback receivers (run by bench/jobs.py --load N)."""
from __future__ import annotations

import contextlib
import http.server
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CALLERS = ("alpha", "bravo", "charlie", "delta")


class Receiver(http.server.BaseHTTPRequestHandler):
    """/fast answers at once; /sleep holds the connection 60 s; /drip sends a byte every 2 s for 60 s."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.calls[self.path] = self.server.calls.get(self.path, 0) + 1  # type: ignore[attr-defined]
        try:
            if self.path == "/sleep":
                time.sleep(60)
            elif self.path == "/drip":
                self.wfile.write(b"H")
                for _ in range(30):
                    time.sleep(2)
                    self.wfile.write(b"T")
                    self.wfile.flush()
            self.send_response(204)
            self.end_headers()
        except OSError:
            pass  # the server gave up on us, as it should

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def receiver() -> Iterator[tuple[str, dict[str, int]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    server.calls, server.lock = {}, threading.Lock()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.calls  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def server(folder: Path, keys: dict[str, str]) -> Iterator[tuple[str, int]]:
    keys_file = folder / "keys.txt"
    keys_file.write_text("".join(f"{name} {key}\n" for name, key in keys.items()))
    keys_file.chmod(0o600)
    port = _free_port()
    log = open(folder / "serve.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "facefusion", "serve", "--port", str(port), "--api-keys",
                                str(keys_file), "--data", str(folder / "data"), "--callback-allow-hosts", "127.0.0.1"],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "FACEFUSION_WEBHOOK_SECRET": secrets.token_urlsafe(24)})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def request(method: str, url: str, key: str, body: bytes | None = None, kind: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {key}", **({"Content-Type": kind} if kind else {})}
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method, headers=headers),
                                timeout=120) as response:
        return json.loads(response.read())


def submit(url: str, key: str, target: Path, source: Path, callback: str | None) -> dict:
    boundary = uuid.uuid4().hex
    fields = {"consent": "true", **({"callback_url": callback} if callback else {})}
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    for name, path in (("target", target), ("sources", source)):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{path.name}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + path.read_bytes() + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return request("POST", f"{url}/v1/jobs", key, body, f"multipart/form-data; boundary={boundary}")


def one_run(count: int, hooks: dict[str, str], calls: dict[str, int]) -> dict[str, object]:
    """``count`` jobs sent at once by the 4 callers (callbacks to ``hooks[caller]``); what happened, and how
    long after the last job the well-behaved receivers (``/fast``) had every callback of theirs."""
    from sample_media import astronaut, grace_hopper

    keys = {name: secrets.token_urlsafe(24) for name in CALLERS}
    pairs = [(Path(astronaut()), Path(grace_hopper())), (Path(grace_hopper()), Path(astronaut()))]
    with tempfile.TemporaryDirectory() as folder, server(Path(folder), keys) as (url, pid):
        warm = submit(url, keys["alpha"], *pairs[0], None)
        while request("GET", f"{url}/v1/jobs/{warm['id']}", keys["alpha"])["status"] not in ("done", "failed"):
            time.sleep(0.2)
        memory_before = rss_mb(pid)
        submitted: list[tuple[str, str, float]] = []
        lock = threading.Lock()

        def send(number: int) -> None:
            caller = CALLERS[number % len(CALLERS)]
            target, source = pairs[number % 2]
            job = submit(url, keys[caller], target, source, hooks.get(caller))
            with lock:
                submitted.append((caller, job["id"], time.monotonic()))

        started = time.monotonic()
        threads = [threading.Thread(target=send, args=(number,)) for number in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done: dict[str, float] = {}
        statuses: dict[str, str] = {}
        while len(done) < len(submitted):
            for caller, job_id, _ in submitted:
                if job_id in done:
                    continue
                job = request("GET", f"{url}/v1/jobs/{job_id}", keys[caller])
                if job["status"] in ("done", "failed", "cancelled"):
                    done[job_id], statuses[job_id] = time.monotonic(), job["status"]
            time.sleep(0.2)
        slowest = {caller: max(done[job_id] - sent for who, job_id, sent in submitted if who == caller)
                   for caller in CALLERS}
        expected = sum(1 for caller, _, _ in submitted if hooks[caller].endswith("/fast"))
        while calls.get("/fast", 0) < expected and time.monotonic() - max(done.values()) < 120:
            time.sleep(0.1)
        return {"all done": sum(status == "done" for status in statuses.values()), "jobs": len(submitted),
                "seconds": max(done.values()) - started, "slowest": slowest,
                "fast callbacks": f"{calls.get('/fast', 0)}/{expected}",
                "callbacks after": time.monotonic() - max(done.values()),
                "memory before": memory_before, "memory after": rss_mb(pid)}


def under_load(count: int) -> None:
    """Each behaviour is its own receiver (its own port), as each caller has its own."""
    with receiver() as (prompt, calls), receiver() as (sleepy, sleep_calls), receiver() as (dripping, drip_calls):
        baseline = one_run(count, {caller: f"{prompt}/fast" for caller in CALLERS}, calls)
        fast_calls = dict(calls)
        calls.clear()
        hostile = one_run(count, {"alpha": f"{sleepy}/sleep", "bravo": f"{dripping}/drip",
                                  "charlie": f"{prompt}/fast", "delta": f"{prompt}/fast"}, calls)
        hostile_calls = {**calls, **sleep_calls, **drip_calls}
    print(f"\n{count} image jobs sent at once by {len(CALLERS)} callers to one `facefusion serve` (1 worker):")
    for name, result, received in (("every receiver answers at once", baseline, fast_calls),
                                   ("alpha's receiver sleeps 60 s, bravo's drips", hostile, hostile_calls)):
        slowest = ", ".join(f"{caller} {seconds:.1f}" for caller, seconds in result["slowest"].items())  # type: ignore[union-attr]
        print(f"  {name}: {result['all done']}/{result['jobs']} done in {result['seconds']:.1f} s; slowest job "
              f"per caller (s): {slowest}; callbacks received: {received}, the prompt receivers' "
              f"{result['fast callbacks']} within {result['callbacks after']:.1f} s of the last job; server RSS "
              f"{result['memory before']:.0f} MB warmed up, {result['memory after']:.0f} MB after")

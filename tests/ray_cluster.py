"""A real local Ray cluster for tests: `ray start --head` on 127.0.0.1 with two CPU slots, no dashboard, no
usage stats, a small object store and its own HOME and temporary folders; stopped by its PID."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator


def ray_binary() -> str | None:
    beside = Path(sys.executable).parent / "ray"
    return str(beside) if beside.is_file() else None


def cluster_environment(folder: Path) -> dict[str, str]:
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    return {"HOME": str(folder), "RAY_TMPDIR": str(folder / "tmp"), "TMPDIR": str(folder / "tmp"),
            "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    # Ray's worker ports are 10002-19999: the head's port must be outside them.
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 20000:
            return port


@contextlib.contextmanager
def ray_cluster(folder: Path, cpus: int = 2) -> Iterator[str]:
    """Yields the cluster's address (for ``ray.init(address=...)`` and ``--ray-address``)."""
    binary = ray_binary()
    assert binary, "Ray is not installed (make cluster)"
    environment = {**os.environ, **cluster_environment(folder)}
    port = _free_port()
    log = open(folder / "ray-head.log", "w")
    process = subprocess.Popen([binary, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                                f"--num-cpus={cpus}", "--num-gpus=0", "--include-dashboard=false",
                                "--object-store-memory=200000000", "--disable-usage-stats", "--block"],
                               env=environment, stdout=log, stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    raise AssertionError((folder / "ray-head.log").read_text()[-3000:])
                time.sleep(0.5)
        time.sleep(2)  # the raylet registers after the GCS answers
        yield address
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()

"""A real local Ray cluster for tests: `ray start --head` on 127.0.0.1 with two CPU slots, no dashboard, no
usage stats, a small object store and its own HOME and temporary folders; stopped by its PID."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from processes import stop


def ray_binary() -> str | None:
    beside = Path(sys.executable).parent / "ray"
    return str(beside) if beside.is_file() else None


def _environment(home: Path, temporary: Path) -> dict[str, str]:
    return {"HOME": str(home), "RAY_TMPDIR": str(temporary), "TMPDIR": str(temporary),
            "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    # Ray's worker ports are 10002-19999: the head's port must be outside them.
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 20000:
            return port


def descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (from /proc), e.g. the workers of a cluster this test started."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, waiting = [], [pid]
    while waiting:
        for child in children.get(waiting.pop(), []):
            found.append(child)
            waiting.append(child)
    return found


def actor_pids(head_pid: int, class_name: str = "SegmentActor") -> list[int]:
    """PIDs of this cluster's actors of ``class_name`` (Ray titles them ``ray::CLASS``)."""
    pids = []
    for pid in descendants(head_pid):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if title.startswith(f"ray::{class_name}"):
            pids.append(pid)
    return pids


@dataclass(frozen=True)
class Cluster:
    address: str
    head_pid: int
    environment: dict[str, str]
    """What a client of this cluster needs (its HOME and temporary folders, no auth token, no usage stats)."""


@contextlib.contextmanager
def ray_cluster(folder: Path, cpus: int = 2) -> Iterator[Cluster]:
    """Yields the cluster (its address for ``ray.init(address=...)`` and ``--ray-address``, the head's PID)."""
    binary = ray_binary()
    assert binary, "Ray is not installed (make cluster)"
    folder.mkdir(parents=True, exist_ok=True)
    # Ray's socket paths must stay under 108 bytes: its temporary folder is a short one of its own.
    temporary = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    own = _environment(folder, temporary)
    environment = {**os.environ, **own}
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
                    raise AssertionError((folder / "ray-head.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        time.sleep(2)  # the raylet registers after the GCS answers
        yield Cluster(address, process.pid, own)
    finally:
        stop(process, 30.0)
        log.close()
        shutil.rmtree(temporary, ignore_errors=True)

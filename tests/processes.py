"""Stopping what a test started, by its PID: SIGTERM, then SIGKILL if it does not end in time."""
from __future__ import annotations

import signal
import subprocess


def stop(process: subprocess.Popen, grace: float = 30.0) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)

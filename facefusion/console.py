"""Keeping the native libraries' log lines off the user's console.

mediapipe's graphs and TensorFlow Lite write straight to file descriptor 2 from C++ (``W0000 …
inference_feedback_manager…``, ``INFO: Created TensorFlow Lite XNNPACK delegate``), below Python,
where no logging setting reaches and their environment switches are not honoured. The CLI and the web
app route descriptor 2 through a pipe whose reader drops exactly those lines and passes every other
byte on to the real stderr (a native crash report still reaches the user). Python's own messages
(errors, warnings, the progress bar) are written to the real stderr directly, so they keep their order
and a terminal stays a terminal (the progress bar shows).
"""
from __future__ import annotations

import atexit
import os
import re
import sys
import threading

NATIVE_NOISE = re.compile(
    rb"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.]+:\d+\] "  # absl/glog lines from mediapipe's graphs
    rb"|INFO: Created TensorFlow Lite \w+ delegate"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    # onnxruntime's telemetry (off in the product) complains at import where the home folder is read-only.
    rb"|(?:\x1b\[[0-9;]*m)?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \[W:onnxruntime:[^\]]*telemetry_\w+\.cc:)")


def is_native_noise(line: bytes) -> bool:
    return NATIVE_NOISE.match(line) is not None


def _forward(reader: int, writer: int) -> None:
    pending = b""
    while True:
        chunk = os.read(reader, 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = [line + b"\n" for line in lines if not is_native_noise(line)]
        # A progress bar redraws its line with carriage returns and no newline: pass it on at once.
        if pending and not NATIVE_NOISE.match(pending[:80]) and b"\r" in pending:
            kept.append(pending)
            pending = b""
        if kept:
            os.write(writer, b"".join(kept))
    if pending and not is_native_noise(pending):
        os.write(writer, pending)
    os.close(reader)


def quiet_native_logs() -> None:
    """Filter descriptor 2 for the rest of the process (once; a no-op where it cannot be done).
    FACEFUSION_NATIVE_LOGS=1 leaves everything as it is (for reporting a problem in a native library)."""
    # Descriptor 2 is one per process, so whether it is filtered already is the process's own state.
    if getattr(quiet_native_logs, "installed", False) or os.environ.get("FACEFUSION_NATIVE_LOGS") == "1":
        return
    try:
        sys.stderr.flush()
        original = os.dup(2)
        reader, writer = os.pipe()
        os.dup2(writer, 2)
        os.close(writer)
    except (OSError, ValueError, AttributeError):
        return
    thread = threading.Thread(target=_forward, args=(reader, original), name="native-log-filter", daemon=True)
    thread.start()
    if sys.stderr is sys.__stderr__:  # (not when a test harness has put its own stream there)
        encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
        sys.stderr = os.fdopen(original, "w", buffering=1, encoding=encoding, errors="backslashreplace",
                               closefd=False)

    def restore() -> None:
        # Give the real stderr back and let the reader finish what is still in the pipe.
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(original, 2)
        thread.join(timeout=2)

    atexit.register(restore)
    quiet_native_logs.installed = True  # type: ignore[attr-defined]

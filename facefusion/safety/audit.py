"""The audit log: one JSON line per decision (a refusal, a written output and its watermark id).

Inputs are named by their SHA-256, not by their content, so the log can be kept and shared without
holding anyone's face. Lines are appended whole with one write each (O_APPEND), so several runs may
write to one log at once.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import storage_error
from ..inference.download import sha256_of


def file_hash(path: str | os.PathLike[str]) -> str | None:
    """The SHA-256 of a file's bytes (None when it cannot be read, or is no regular file: a camera device would
    be read for ever)."""
    if not Path(path).is_file():
        return None
    try:
        return sha256_of(Path(path))
    except OSError:
        return None


def record(log: str | os.PathLike[str] | None, decision: str, *, sources: list[str], target: str,
           output: str | None = None, watermark_id: str | None = None, reason: str | None = None) -> None:
    """Append one decision (``refused``, ``written``) to ``log``; nothing when no log is set."""
    if log is None:
        return
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "decision": decision,
        "sources": [{"name": Path(path).name, "sha256": file_hash(path)} for path in sources],
        "target": {"name": Path(target).name, "sha256": file_hash(target)},
        "output": output,
        "output_sha256": file_hash(output) if output else None,
        "watermark_id": watermark_id,
        "reason": reason,
    }
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
    try:
        descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
    except OSError as error:
        raise storage_error(error, log, "write the audit log") from None

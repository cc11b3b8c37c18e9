"""Where a job's files live: its uploaded inputs and its result.

The embedded default is a local folder (``--storage DIR``): ``DIR/JOB/inputs/…`` and ``DIR/JOB/output.EXT``;
the API serves the result itself at ``/v1/jobs/JOB/result``.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str, fallback: str) -> str:
    """A caller's file name reduced to letters, digits, dot, dash and underscore (never a path)."""
    cleaned = SAFE_NAME.sub("_", Path(name or "").name).strip("._")
    return cleaned[:100] or fallback


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def input_path(self, job_id: str, index: int, name: str) -> Path:
        """A fresh path for one upload (numbered, so two sources of the same name stay apart)."""
        folder = self.folder(job_id) / "inputs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{index:02d}-{safe_name(name, 'upload')}"

    def output_path(self, job_id: str, suffix: str) -> Path:
        self.folder(job_id).mkdir(parents=True, exist_ok=True)
        return self.folder(job_id) / f"output{suffix}"

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

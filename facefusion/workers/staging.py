"""A Ray job's input files carried by the cluster's object store, so that actors on other machines need no
shared folder.

The driver reads each input once (the target, the source photos, a reference face, the operator's folder of
protected people) and puts its bytes in the object store; actors receive references, not paths. An actor
writes each file it needs into a cache folder of its node, named by the content's SHA-256, once: the next
segments of the job (and other jobs with the same file) find it there. Files not used for an hour are
removed once the cache grows past its limit.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..durable import write_atomically
from ..inference.download import sha256_of
from ..run_types import Job
from ..safety.protected import protected_photos

CACHE_LIMIT_BYTES = 8 << 30
"""Past this, files of the node's cache unused for KEEP_SECONDS are removed (newest kept)."""
KEEP_SECONDS = 3600.0


@dataclass(frozen=True)
class StagedFile:
    name: str
    """The file's own name, kept so that messages name it as the caller did."""
    digest: str
    """SHA-256 of the content: its name in an actor's cache."""
    data: Any
    """The object store's reference to the bytes."""


@dataclass(frozen=True)
class StagedInputs:
    target: StagedFile
    sources: tuple[StagedFile, ...]
    reference_face: StagedFile | None = None
    protected: tuple[tuple[str, StagedFile], ...] = ()
    """The protected people's folder as (path inside it, file)."""


def stage_file(put: Callable[[bytes], Any], path: str | os.PathLike[str]) -> StagedFile:
    """One file into the object store (``put`` is ``ray.put``)."""
    path = Path(path)
    return StagedFile(name=path.name, digest=sha256_of(path), data=put(path.read_bytes()))


def _photos(folder: Path) -> list[Path]:
    """The photos a protected people's folder holds (the files ``load_protected`` reads)."""
    return [photo for _, photo in protected_photos(folder)]


def folder_stamp(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What says a protected people's folder changed: its photos' paths, sizes and modification times."""
    return tuple((str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in _photos(folder))


def stage_folder(put: Callable[[bytes], Any], folder: Path) -> tuple[tuple[str, StagedFile], ...]:
    """A protected people's folder, photo by photo, keeping its layout (sub-folder per person)."""
    return tuple((str(path.relative_to(folder)), stage_file(put, path)) for path in _photos(folder))


class InputCache:
    """A node's copies of staged files: ``FOLDER/DIGEST/NAME`` (a folder: ``FOLDER/DIGEST-OF-ITS-LIST/…``)."""

    def __init__(self, folder: Path | None = None, limit_bytes: int = CACHE_LIMIT_BYTES) -> None:
        self.folder = folder or Path(tempfile.gettempdir()) / "facefusion-studio-inputs"
        self.limit_bytes = limit_bytes

    def file(self, staged: StagedFile, get: Callable[[Any], bytes]) -> Path:
        """The staged file on this node, fetched from the object store the first time."""
        path = self.folder / staged.digest / staged.name
        if self._place(path, staged, get):
            self._tidy()
        os.utime(path.parent)  # used now: the tidying keeps it
        return path

    def protected_folder(self, files: tuple[tuple[str, StagedFile], ...], get: Callable[[Any], bytes]) -> Path:
        listing = "\n".join(f"{relative} {staged.digest}" for relative, staged in files)
        root = self.folder / hashlib.sha256(listing.encode()).hexdigest()
        written = [self._place(root / relative, staged, get) for relative, staged in files]
        if any(written):
            self._tidy()
        os.utime(root)
        return root

    def local_job(self, job: Job, staged: StagedInputs, get: Callable[[Any], bytes], output: Path) -> Job:
        """``job`` with its inputs in this node's cache and its output at ``output`` (the actor's own)."""
        safety = job.safety
        if staged.protected:  # else the operator's path stays (a missing folder is refused naming it)
            safety = dataclasses.replace(safety, protected_faces=str(self.protected_folder(staged.protected, get)))
        return dataclasses.replace(
            job, target=str(self.file(staged.target, get)),
            sources=tuple(str(self.file(source, get)) for source in staged.sources),
            reference_face_path=str(self.file(staged.reference_face, get)) if staged.reference_face else None,
            output=str(output), safety=safety)

    def _place(self, path: Path, staged: StagedFile, get: Callable[[Any], bytes]) -> bool:
        """Write one staged file at ``path`` unless it is there; whether it was written."""
        if path.is_file():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, get(staged.data))  # two actors of a node may write at once
        return True

    def _tidy(self) -> None:
        """Remove entries unused for KEEP_SECONDS, oldest first, while the cache is over its limit."""
        entries = [(entry.stat().st_mtime, entry) for entry in self.folder.iterdir() if entry.is_dir()]
        sizes = {entry: sum(item.stat().st_size for item in entry.rglob("*") if item.is_file())
                 for _, entry in entries}
        total = sum(sizes.values())
        for used, entry in sorted(entries):
            if total <= self.limit_bytes or time.time() - used < KEEP_SECONDS:
                break
            shutil.rmtree(entry, ignore_errors=True)
            total -= sizes[entry]

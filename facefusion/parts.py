"""The work folder of a video run (``OUTPUT.parts``): finished segments, what they hold, and who writes.

A video is rendered in segments so a stopped or killed run continues where it was. A segment counts
as finished only when it is on the disk (file and folder synced) with a record beside it: its frame
count, size and SHA-256, and what was done in it (face swaps, failed frames). On resume every record is
checked against its file, and the first segment that does not match (cut short, damaged, missing) is
rendered again with all after it. One run at a time may write an output: the folder is locked while
a run holds it, and a second run is refused, naming the first.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .durable import write_atomically
from .errors import InvalidInputError
from .inference.download import sha256_of
from .safety.watermark import new_output_id

SEGMENT_FRAMES = 240
"""Output frames per segment of a video run: the most a crash or a restart can cost, where tracking restarts,
and (on Ray) the unit of work an actor takes."""

logger = logging.getLogger("facefusion")


@dataclass(frozen=True)
class SegmentRecord:
    frames: int
    size: int
    sha256: str
    swaps: int
    failed_frames: tuple[int, ...]


def parts_folder(output: Path) -> Path:
    """Where the run writing ``output`` keeps its finished segments."""
    return output.with_name(output.name + ".parts")


class WorkFolder:
    """``OUTPUT.parts`` for one run: locked from creation to :meth:`release` (or :meth:`remove`)."""

    def __init__(self, output: Path, fingerprint: str, resume: bool, watermark_id: int | None = None) -> None:
        self.folder = parts_folder(output)
        self.folder.mkdir(exist_ok=True)
        self._lock: int | None = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            self._lock = None
            raise InvalidInputError(f"another run ({self._owner()}) is writing {output} right now; wait for it "
                                    "to end or choose another output path") from None
        state = self.folder / "state.json"
        try:
            saved = json.loads(state.read_text())
            matches = saved.get("fingerprint") == fingerprint
        except (OSError, ValueError, AttributeError):  # none yet, or cut short by a crash
            saved, matches = {}, False
        if not (resume and matches):
            if not matches and any(self.folder.iterdir()):
                logger.info("earlier partial run in %s belongs to other inputs or options: starting over", self.folder)
            self._clear()
        (self.folder / "owner").write_text(f"process {os.getpid()}")
        # The output's watermark id is the run's, not the process's: a resumed run marks its frames as the
        # run it continues did.
        kept = saved.get("watermark_id") if resume and matches else None
        if watermark_id is not None:
            kept = watermark_id
        self.watermark_id: int = kept if isinstance(kept, int) else new_output_id()
        write_atomically(state, json.dumps({"fingerprint": fingerprint, "watermark_id": self.watermark_id}))

    def _owner(self) -> str:
        try:
            return (self.folder / "owner").read_text().strip() or "another process"
        except OSError:
            return "another process"

    def _clear(self) -> None:
        # The folder itself stays: its lock is held.
        for item in self.folder.iterdir():
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()

    def segment(self, number: int) -> Path:
        return self.folder / f"segment_{number:05d}.mkv"

    def _record_path(self, number: int) -> Path:
        return self.folder / f"segment_{number:05d}.json"

    def record(self, number: int, frames: int, swaps: int, failed_frames: list[int]) -> None:
        """Count segment ``number`` (written, closed and synced by its writer) as finished."""
        path = self.segment(number)
        record = SegmentRecord(frames=frames, size=path.stat().st_size, sha256=sha256_of(path), swaps=swaps,
                               failed_frames=tuple(failed_frames))
        write_atomically(self._record_path(number), json.dumps(record.__dict__))

    def finished(self, expected_frames: list[int]) -> list[SegmentRecord]:
        """The records of the finished segments from the first on, each checked against its file and the
        frames it must hold; the first that fails the check is deleted (it is rendered again) and
        everything after it too."""
        records: list[SegmentRecord] = []
        for number, frames in enumerate(expected_frames):
            record = self._checked(number, frames)
            if record is None:
                for later in range(number, len(expected_frames)):
                    self.segment(later).unlink(missing_ok=True)
                    self._record_path(later).unlink(missing_ok=True)
                break
            records.append(record)
        return records

    def _checked(self, number: int, frames: int) -> SegmentRecord | None:
        path, record_path = self.segment(number), self._record_path(number)
        if not record_path.is_file() or not path.is_file():
            return None
        try:
            saved = json.loads(record_path.read_text())
            record = SegmentRecord(frames=int(saved["frames"]), size=int(saved["size"]), sha256=str(saved["sha256"]),
                                   swaps=int(saved["swaps"]), failed_frames=tuple(saved["failed_frames"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("segment %d's record in %s is unreadable: rendering it again", number, self.folder)
            return None
        if record.frames != frames or path.stat().st_size != record.size or sha256_of(path) != record.sha256:
            logger.warning("segment %d in %s does not match its record (cut short or damaged): rendering it again",
                           number, self.folder)
            return None
        return record

    def has_finished(self) -> bool:
        return self._record_path(0).is_file()

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.release()

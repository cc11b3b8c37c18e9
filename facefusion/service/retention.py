"""How long a finished job's files are kept (``serve --keep-files 24h``): the uploaded photos and videos show
people's faces, so a platform should not keep them longer than it needs. A thread of the API deletes the
inputs and the result of every job that ended longer ago than that; the job's record stays (status, report,
callbacks) with the time its files went. ``DELETE /v1/jobs/ID`` on a finished job does the same at once.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

from .storage import Storage
from .store import JobStore

logger = logging.getLogger("facefusion")

def purge(store: JobStore, storage: Storage, job_id: str) -> None:
    """Delete one finished job's files and note when."""
    storage.purge(job_id)
    store.mark_purged(job_id)


class Retention:
    """Deletes the files of jobs that ended more than ``keep_seconds`` ago, looking every little while."""

    def __init__(self, store: JobStore, storage: Storage, keep_seconds: float) -> None:
        self.store, self.storage, self.keep_seconds = store, storage, keep_seconds
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._work, name="job-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(10)

    def purge_expired(self) -> int:
        expired = self.store.purgeable(time.time() - self.keep_seconds)
        for job in expired:
            purge(self.store, self.storage, job.id)
        return len(expired)

    def _work(self) -> None:
        interval = min(60.0, max(0.5, self.keep_seconds / 4))
        while not self._closing.wait(interval):
            try:
                purged = self.purge_expired()
                if purged:
                    logger.info("deleted the files of %d job(s) that ended over %g s ago", purged, self.keep_seconds)
            except Exception:  # noqa: BLE001 - a store or bucket that fails now is tried again next time
                logger.exception("deleting the files of old jobs failed")


SWEEP_EVERY = 600.0


def newest_change(folder: Path) -> float:
    """The last time anything in ``folder`` was written (an upload in progress keeps it fresh)."""
    newest = 0.0
    for base, _, files in os.walk(folder):
        for name in [*files, "."]:
            try:
                newest = max(newest, os.lstat(os.path.join(base, name)).st_mtime)
            except OSError:
                pass
    return newest


class Sweeper:
    """Removes job folders that no job record names: what a server killed mid-upload, or a fault between
    saving the files and recording the job, left behind (photos of faces, kept for nobody). A folder is left
    while anything in it changed in the last ``quiet_seconds`` (another server may be receiving it). Runs at
    start and every SWEEP_EVERY seconds."""

    def __init__(self, store: JobStore, storage: Storage, quiet_seconds: float) -> None:
        self.store, self.storage, self.quiet_seconds = store, storage, quiet_seconds
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._work, name="job-sweeper", daemon=True)

    def start(self) -> None:
        self.sweep()
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(10)

    def sweep(self) -> int:
        folders = self.storage.folders.job_folders()
        known = self.store.job_ids([folder.name for folder in folders])
        cutoff = time.time() - self.quiet_seconds
        removed = 0
        for folder in folders:
            if folder.name not in known and newest_change(folder) < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        if removed:
            logger.info("removed %d job folder(s) that no job record names (an upload cut short)", removed)
        return removed

    def _work(self) -> None:
        while not self._closing.wait(SWEEP_EVERY):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - tried again next time
                logger.exception("sweeping job folders failed")

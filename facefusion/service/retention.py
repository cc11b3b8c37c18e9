"""How long a finished job's files are kept (``serve --keep-files 24h``): the uploaded photos and videos show
people's faces, so a platform should not keep them longer than it needs. A thread of the API deletes the
inputs and the result of every job that ended longer ago than that; the job's record stays (status, report,
callbacks) with the time its files went. ``DELETE /v1/jobs/ID`` on a finished job does the same at once.
"""
from __future__ import annotations

import logging
import re
import threading
import time

from .storage import LocalStorage
from .store import JobStore

logger = logging.getLogger("facefusion")

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``24h``, ``7d`` (or bare seconds) as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a duration such as 24h, 30m or 7d")
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


def purge(store: JobStore, storage: LocalStorage, job_id: str) -> None:
    """Delete one finished job's files and note when."""
    storage.purge(job_id)
    store.mark_purged(job_id)


class Retention:
    """Deletes the files of jobs that ended more than ``keep_seconds`` ago, looking every little while."""

    def __init__(self, store: JobStore, storage: LocalStorage, keep_seconds: float) -> None:
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

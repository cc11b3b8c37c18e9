"""The embedded worker pool: threads of the API's own process that take jobs from the store and run them
through the same pipeline as the CLI (no server to start), or hand them to a Ray pool (``runner``).

Each worker claims the oldest queued job, runs it (keeping its studios, so the models stay loaded), writes
its progress to the store about twice a second, and at the end records the result and puts the signed
callback in the store's outbox (delivery threads send it: no worker waits on a receiver). DELETE on a running
job sets its stop flag, and so does the server's per-job deadline: the pipeline ends at its next check (between
frames, and between the tiles of long per-frame work) and the job is recorded as cancelled or failed.

A keeper thread renews this process's leases on its running jobs, stops a job a caller cancelled through
another API process, stops one whose lease was lost (another server took it over: it alone finishes it), and
puts back in the queue the jobs of servers that died (their leases ran out).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StoppedError, StudioError
from ..options import make_options
from ..parts import SEGMENT_FRAMES, parts_folder
from ..pipeline import Job, Progress, RunResult, run
from ..safety.policy import SafetyPolicy
from ..service.storage import Storage
from ..service.store import JobRecord, JobStore
from .studios import SessionPools, StudioCache

logger = logging.getLogger("facefusion")

PROGRESS_EVERY = 0.5
IDLE_WAIT = 0.5


def report_of(result: RunResult) -> dict[str, Any]:
    """The job's report: what the run did, as the CLI's summary says it."""
    return {"frames": result.frames, "faces_swapped": result.faces_swapped, "faces_found": result.faces_found,
            "faces_selected": result.faces_selected, "failed_frames": result.failed_frames,
            "seconds": round(result.seconds, 3), "engine": result.engine, "warnings": result.warnings,
            "watermark_id": result.watermark_id, "signed": result.signed, "resumed_from": result.resumed_from}


@dataclass
class LocalWorkers:
    store: JobStore
    safety: SafetyPolicy
    describe: Callable[[JobRecord], dict[str, Any]]
    """The job's public JSON (what GET answers and the callback carries)."""
    storage: Storage
    """Where the job's inputs come from and its result goes (its local work folder is released at the end)."""
    count: int = 1
    segment_frames: int = SEGMENT_FRAMES
    on_callback: Callable[[], None] = lambda: None
    """Called when a finished job's callback was put in the outbox (the sender takes it from there)."""
    job_deadline: float | None = None
    """Seconds a job may run before it is stopped and failed (None: no limit)."""
    runner: Callable[..., Iterator[Progress | RunResult]] = run
    """What runs a job: the pipeline here, or a Ray pool's ``run`` (the same events); either is given the
    worker's kept studio."""
    _pools: SessionPools = field(default_factory=SessionPools)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stops: dict[str, threading.Event] = field(default_factory=dict)
    _lost: set[str] = field(default_factory=set)
    """Running jobs whose lease another server took over: they stop without recording anything."""
    _closing: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._requeue_expired()
        keeper = threading.Thread(target=self._keep_leases, name="job-leases", daemon=True)
        keeper.start()
        self._threads.append(keeper)
        for number in range(self.count):
            thread = threading.Thread(target=self._work, name=f"job-worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _requeue_expired(self) -> None:
        requeued = self.store.leases.requeue_expired()
        if requeued:
            logger.info("%d job(s) of a server that stopped answering are queued again (videos resume)", requeued)

    def _keep_leases(self) -> None:
        interval = max(0.1, self.store.leases.lease_seconds / 4)
        while not self._closing.wait(interval):
            try:
                held, cancelled = self.store.leases.renew()
                with self._lock:
                    for job_id, stop in self._stops.items():
                        if job_id not in held:
                            logger.warning("job %s was taken over by another server; it stops here", job_id)
                            self._lost.add(job_id)
                        if job_id not in held or job_id in cancelled:
                            stop.set()
                self._requeue_expired()
            except Exception:  # noqa: BLE001 - a store that does not answer now may answer at the next renewal
                logger.exception("renewing the job leases failed")

    def wake(self) -> None:
        """A job was queued: an idle worker takes it now rather than at its next look."""
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        with self._lock:
            stop = self._stops.get(job_id)
        if stop is not None:
            stop.set()

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking jobs; running ones stop at their next frame and stay queued for the next server."""
        self._closing.set()
        self._wake.set()
        with self._lock:
            for stop in self._stops.values():
                stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _work(self) -> None:
        studios = StudioCache(self._pools)
        try:
            while not self._closing.is_set():
                job = self.store.leases.claim()
                if job is None:
                    self._wake.wait(IDLE_WAIT)
                    self._wake.clear()
                    continue
                self._run(job, studios)
        finally:
            studios.close()

    def _run(self, record: JobRecord, studios: StudioCache) -> None:
        stop = threading.Event()
        with self._lock:
            self._stops[record.id] = stop
        overdue = threading.Event()
        def past_deadline() -> None:
            overdue.set()
            stop.set()
        timer = threading.Timer(self.job_deadline, past_deadline) if self.job_deadline else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            outcome = self._outcome(record, stop, studios)
            if overdue.is_set() and outcome is not None and outcome[0] == "cancelled":
                outcome = "failed", None, (f"stopped after the server's limit of {self.job_deadline:g} s a job; "
                                           "send a shorter video or fewer processors")
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._stops.pop(record.id, None)
                lost = record.id in self._lost
                self._lost.discard(record.id)
        if lost or outcome is None:
            return
        status, report, error = outcome
        if self.store.finish(record.id, status, result=report, error=error):
            self.storage.release(record.id)
            self._call_back(record.id)

    def _outcome(self, record: JobRecord, stop: threading.Event, studios: StudioCache
                 ) -> tuple[str, dict[str, Any] | None, str | None] | None:
        """Run one job: (status, report, error) to record, or None when it went back to the queue."""
        if record.cancel_requested:  # cancelled while a server that then died was running it
            return "cancelled", None, "cancelled by the caller"
        try:
            request = self.storage.localise(record.id, record.request)
            options = make_options(**request["options"])
            job = Job(sources=tuple(request["sources"]), target=request["target"], output=request["output"],
                      resume=True, segment_frames=self.segment_frames, safety=self.safety, inputs_id=record.id)
            parts = parts_folder(Path(request["output"]))
            last = 0.0
            for event in self.runner(job, options, stop, studios.get(options, self.safety)):
                if isinstance(event, Progress) and time.monotonic() - last >= PROGRESS_EVERY:
                    last = time.monotonic()
                    self.storage.keep_parts(record.id, parts)  # before the progress says the segment is done
                    self.store.set_progress(record.id, {"frames": event.frame, "total": event.total,
                                                        "fps": round(event.fps, 2), "eta": round(event.eta, 1)})
                elif isinstance(event, RunResult):
                    self.store.set_progress(record.id, {"frames": event.frames, "total": event.frames,
                                                        "fps": 0.0, "eta": 0.0})
                    report = report_of(event)
                    if event.output_path is not None:
                        report["object"] = self.storage.publish(record.id, Path(event.output_path))
                    return "done", report, None
            return "failed", None, "the run ended without a result"
        except StoppedError:
            if self._closing.is_set():  # the server is stopping: the job waits for the next one, and resumes
                self.store.leases.requeue(record.id)
                return None
            return "cancelled", None, "cancelled by the caller"
        except StudioError as error:
            return "failed", None, error.message
        except Exception as error:  # noqa: BLE001 - one job's failure must not end the worker
            logger.exception("job %s failed", record.id)
            return "failed", None, f"unexpected failure ({type(error).__name__}: {error})"

    def _call_back(self, job_id: str) -> None:
        """Put the finished job's callback in the outbox: the worker never waits on a receiver."""
        finished = self.store.get(job_id)
        if finished is None or not finished.request.get("callback_url"):
            return
        body = json.dumps(self.describe(finished), sort_keys=True).encode()
        self.store.outbox.queue(job_id, finished.request["callback_url"], body)
        self.on_callback()

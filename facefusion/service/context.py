"""The running service's parts, and what every route depends on: the service itself, the caller its key names,
and the caller's own job.

Routes take these as FastAPI dependencies (``Depends``), so each route says what it needs and the key is checked
in one place; responses are typed models, so the OpenAPI page (``/docs``) shows what a caller gets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Header, HTTPException, Request
from pydantic import BaseModel

from ..errors import without_server_paths
from ..workers.local import LocalWorkers
from .config import ServiceConfig
from .gate import UNAUTHORISED
from .keys import caller_of
from .outbox import CallbackSender
from .retention import Retention, Sweeper
from .storage import Storage
from .store import JobRecord, JobStore


class JobView(BaseModel):
    """A job as its caller sees it."""

    id: str
    status: str
    created: float
    updated: float
    progress: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    """The run's report: faces, frames, engine, warnings, watermark id (no server paths)."""
    error: str | None = None
    result_url: str | None = None
    """Where the result is fetched once the job is done (a presigned URL with object storage)."""
    files_deleted: float | None = None
    """When the job's inputs and result were deleted (None: they are kept)."""
    callbacks: list[dict[str, Any]] = []


class JobList(BaseModel):
    jobs: list[JobView]


def queue_full(limit: int) -> str:
    return f"{limit} of your jobs are already queued or running; wait for one to finish"


@dataclass
class Service:
    """One API process's job store, storage, workers and background threads."""

    config: ServiceConfig
    store: JobStore
    storage: Storage
    sender: CallbackSender
    sweeper: Sweeper
    retention: Retention | None
    workers: LocalWorkers | None = None
    pool: Any = None
    """The Ray pool the workers hand jobs to (None: they run here)."""

    def result_url(self, job: JobRecord) -> str | None:
        if job.status != "done" or job.purged is not None:
            return None
        stored = (job.result or {}).get("object")
        return self.storage.url_of(stored) if stored else f"/v1/jobs/{job.id}/result"

    def describe(self, job: JobRecord) -> dict[str, Any]:
        """The job as its caller sees it (JobView's fields)."""
        return {"id": job.id, "status": job.status, "created": job.created, "updated": job.updated,
                "progress": job.progress, "report": public_report(job.result),
                "error": without_server_paths(job.error) if job.error else None, "result_url": self.result_url(job),
                "files_deleted": job.purged, "callbacks": job.callbacks}

    def queued_limit(self, owner: str) -> int:
        return self.config.keys[owner].max_queued_jobs or self.config.max_queued_jobs

    def admit(self, owner: str) -> tuple[int, str] | None:
        """The upload gate's question before a body is read: is there room in the caller's queue?"""
        if self.store.count_waiting(owner) >= self.queued_limit(owner):
            return 429, queue_full(self.queued_limit(owner))
        return None

    def start(self) -> None:
        assert self.workers is not None
        self.sweeper.start()
        self.sender.start()
        self.workers.start()
        if self.retention is not None:
            self.retention.start()

    def close(self) -> None:
        if self.retention is not None:
            self.retention.close()
        if self.workers is not None:
            self.workers.close()
        self.sender.close()
        self.sweeper.close()
        self.store.close()
        if self.pool is not None:
            self.pool.close()


def public_report(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The run's report as a caller sees it: its engine line and warnings without server paths."""
    if report is None:
        return None
    public = dict(report)
    if isinstance(public.get("engine"), str):
        public["engine"] = without_server_paths(public["engine"])
    public["warnings"] = [without_server_paths(str(line)) for line in public.get("warnings") or []]
    return public


def current_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def caller(authorization: str | None = Header(None), service: Service = Depends(current_service)) -> str:
    """The caller the request's key names; 401 without a valid key."""
    name = caller_of(authorization, service.config.keys)
    if name is None:
        raise HTTPException(401, UNAUTHORISED, headers={"WWW-Authenticate": "Bearer"})
    return name


def own_job(job_id: str, owner: str = Depends(caller), service: Service = Depends(current_service)) -> JobRecord:
    """The caller's job ``job_id``; 404 for a job that does not exist or is another caller's."""
    job = service.store.get(job_id)
    if job is None or job.owner != owner:
        raise HTTPException(404, f"no job {job_id}")
    return job

"""The HTTP job API (FastAPI): submit, follow, cancel and fetch jobs; list every option.

Routes (all but ``/health`` need ``Authorization: Bearer KEY``; a caller sees only its own jobs):

- ``POST /v1/jobs``: multipart ``sources`` (one or more photos), ``target`` (image or video), ``options``
  (JSON object of option names, checked like the CLI's flags), ``callback_url``, ``consent`` (must be
  true); header ``Idempotency-Key``. 202 with the job; the same key with the same request gives the same job
  (200), with another request 409. The key and the size are checked before the body is read (gate.py).
- ``GET /v1/jobs/{id}``, ``GET /v1/jobs/{id}/events`` (server-sent events until the job ends),
  ``DELETE /v1/jobs/{id}`` (cancel), ``GET /v1/jobs/{id}/result`` (the file).
- ``GET /v1/capabilities``: every option with its type, default, choices and range.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse

from ..errors import InvalidInputError, RefusedError, StudioError, without_server_paths
from ..media.image import output_suffix
from ..options import Options, option_specs
from ..parts import SEGMENT_FRAMES
from ..pipeline import run
from ..safety.consent import require_consent
from ..safety.policy import SafetyPolicy
from ..version import __version__
from ..workers.local import LocalWorkers
from .admission import (
    OPERATOR_OPTIONS,
    JobLimits,
    Refusal,
    check_media,
    check_options,
    fingerprint,
    is_disk_full,
    parse_options,
)
from .callbacks import RETRY_AFTER, resolve
from .gate import UNAUTHORISED, UploadGate
from .keys import Caller, caller_of
from .outbox import CallbackSender
from .retention import Retention, Sweeper, purge
from .storage import LocalStorage, S3Storage, Storage
from .store import LEASE_SECONDS, STATUSES, IdempotencyConflict, JobRecord, JobStore, QueueFull, new_job_id

logger = logging.getLogger("facefusion")


@dataclass
class ServiceConfig:
    keys: dict[str, Caller]
    """Caller name -> API key and the caller's own limits."""
    data: Path
    """The service's own folder: the SQLite job store (jobs.sqlite3) unless ``store`` names another."""
    storage: str
    """A folder, or s3://BUCKET/PREFIX."""
    s3_endpoint: str | None = None
    s3_url_expiry: int = 86400
    s3_inputs: str = "inputs/{caller}/"
    """Where in the bucket a caller's own objects are, which target_url/source_urls may name."""
    workers: int = 1
    webhook_secret: str | None = None
    callback_allow_hosts: frozenset[str] = frozenset()
    """Non-public hosts the operator lets callbacks reach (by name or address)."""
    callback_retry_after: tuple[float, ...] = RETRY_AFTER
    max_queued_jobs: int = 16
    """Per caller: jobs queued or running at once."""
    max_upload_bytes: int = 1 << 30
    """Per request: all uploaded files together."""
    limits: JobLimits = field(default_factory=JobLimits)
    job_deadline: float | None = 3600.0
    """Seconds a job may run before it is stopped and failed."""
    segment_frames: int = SEGMENT_FRAMES
    """Frames per resumable video segment (on Ray: the unit of work an actor takes)."""
    ray_address: str | None = None
    ray_actors: int | None = None
    default_options: dict[str, Any] = field(default_factory=dict)
    """Options every job gets unless it gives its own (e.g. {"execution_providers": ["cuda"]} on GPU workers)."""
    store: str | None = None
    """A postgresql:// URL for a job store several API processes share (default: SQLite in ``data``)."""
    job_lease: float = LEASE_SECONDS
    """Seconds a running job stays with a server that stopped renewing it before another server takes it."""
    keep_files: float | None = None
    """Seconds a finished job's inputs and result are kept (None: until the caller deletes them)."""
    safety: SafetyPolicy = field(default_factory=SafetyPolicy)


def capabilities(server_defaults: dict[str, Any] | None = None, limits: JobLimits | None = None) -> dict[str, Any]:
    """Every option as an API caller needs it: its JSON type, default (this server's where it sets one),
    choices, range and help; the marks are shown with the operator's values, as not the caller's to set."""
    limits = limits or JobLimits()
    defaults = Options().replace(**{**(server_defaults or {}), **limits.marks})
    described = {}
    for name, spec in option_specs().items():
        default = getattr(defaults, name)
        kind = Options.__dataclass_fields__[name].type
        choices = spec.choices if name != "processors" else limits.allowed_processors
        described[name] = {
            "flag": spec.flag, "group": spec.group, "help": spec.help, "default": default,
            "type": "array" if spec.multiple else "boolean" if isinstance(default, bool) else
            "string" if "str" in str(kind) else "number" if "float" in str(kind) else "integer",
            "choices": list(choices) if choices is not None else None,
            "minimum": spec.minimum, "maximum": spec.maximum, "accepts_onnx_path": spec.accepts_onnx_path,
            "set_by_operator": name in OPERATOR_OPTIONS,
        }
    return {"version": __version__, "options": described,
            "limits": {"max_pixels": limits.max_pixels, "max_video_frames": limits.max_video_frames,
                       "max_video_seconds": limits.max_video_seconds}}


def queue_full(limit: int) -> str:
    return f"{limit} of your jobs are already queued or running; wait for one to finish"


def refusal_of(error: BaseException) -> HTTPException | None:
    """The answer a caller gets for what stopped its request (None: an unexpected fault, a 500)."""
    if isinstance(error, HTTPException):
        return error
    if isinstance(error, Refusal):
        return HTTPException(error.status, error.message)
    if isinstance(error, QueueFull):
        return HTTPException(429, queue_full(error.args[0]))
    if isinstance(error, IdempotencyConflict):
        return HTTPException(409, f"Idempotency-Key: already used for another request (job {error.args[0]}); send "
                                  "a new key for a new request")
    if is_disk_full(error):
        return HTTPException(507, "the server's disk is full; nothing of this request was kept: try again later")
    if isinstance(error, StudioError):
        return HTTPException(422, error.message)
    return None


def create_service(config: ServiceConfig) -> FastAPI:
    """The app, its store, storage, workers and callback sender (started with the app, stopped with it)."""
    store = JobStore(config.store or config.data / "jobs.sqlite3", lease_seconds=config.job_lease)
    storage = storage_for(config)
    storage.check()
    sender = CallbackSender(store, config.webhook_secret, config.callback_allow_hosts, config.callback_retry_after)
    sweeper = Sweeper(store, storage, quiet_seconds=max(config.job_lease, 1.0))
    retention = Retention(store, storage, config.keep_files) if config.keep_files else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sweeper.start()
        sender.start()
        workers.start()
        if retention is not None:
            retention.start()
        try:
            yield
        finally:
            if retention is not None:
                retention.close()
            workers.close()
            sender.close()
            sweeper.close()
            store.close()
            if pool is not None:
                pool.close()

    app = FastAPI(title="facefusion-studio job API", version=__version__, lifespan=lifespan,
                  description="Swap and enhance faces in images and videos, as jobs.")

    def result_url(job: JobRecord) -> str | None:
        if job.status != "done" or job.purged is not None:
            return None
        stored = (job.result or {}).get("object")
        return storage.url_of(stored) if stored else f"/v1/jobs/{job.id}/result"

    def describe(job: JobRecord) -> dict[str, Any]:
        return {"id": job.id, "status": job.status, "created": job.created, "updated": job.updated,
                "progress": job.progress, "report": _public_report(job.result),
                "error": without_server_paths(job.error) if job.error else None, "result_url": result_url(job),
                "files_deleted": job.purged, "callbacks": job.callbacks}

    pool = None
    if config.ray_address:
        from ..workers.ray_pool import RayPool

        pool = RayPool(config.ray_address, config.ray_actors)
    workers = LocalWorkers(store=store, safety=config.safety, describe=describe, storage=storage,
                           runner=pool.run if pool is not None else run, count=config.workers,
                           segment_frames=config.segment_frames, on_callback=sender.wake,
                           job_deadline=config.job_deadline)
    app.state.store, app.state.workers = store, workers

    def queued_limit(owner: str) -> int:
        return config.keys[owner].max_queued_jobs or config.max_queued_jobs

    def admit(owner: str) -> tuple[int, str] | None:
        if store.count_waiting(owner) >= queued_limit(owner):
            return 429, queue_full(queued_limit(owner))
        return None

    app.add_middleware(UploadGate, keys=config.keys, upload_limit=config.max_upload_bytes, admit=admit)

    @app.exception_handler(HTTPException)
    async def public_error(_: Request, error: HTTPException) -> JSONResponse:
        # Messages name the caller's files, never where the server keeps them.
        detail = without_server_paths(error.detail) if isinstance(error.detail, str) else error.detail
        return JSONResponse({"detail": detail}, status_code=error.status_code, headers=error.headers)

    def caller(authorization: str | None) -> str:
        name = caller_of(authorization, config.keys)
        if name is None:
            raise HTTPException(401, UNAUTHORISED, headers={"WWW-Authenticate": "Bearer"})
        return name

    def own_job(job_id: str, owner: str) -> JobRecord:
        job = store.get(job_id)
        if job is None or job.owner != owner:
            raise HTTPException(404, f"no job {job_id}")
        return job

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/v1/capabilities")
    def list_capabilities(authorization: str | None = Header(None)) -> dict[str, Any]:
        caller(authorization)
        return capabilities(config.default_options, config.limits)

    @app.post("/v1/jobs", status_code=202)
    async def submit(request: Request, target: UploadFile | None = File(None),
                     sources: list[UploadFile] = File(default=[]), target_url: str | None = Form(None),
                     source_urls: list[str] = Form(default=[]), options: str | None = Form(None),
                     callback_url: str | None = Form(None),
                     consent: bool = Form(False), authorization: str | None = Header(None),
                     idempotency_key: str | None = Header(None)) -> JSONResponse:
        owner = caller(authorization)
        values = await asyncio.to_thread(_checked_request, config, consent, options, callback_url)
        if (target is None) == (target_url is None):
            raise HTTPException(422, "target: send either a target file or a target_url")
        urls = [url.strip() for item in source_urls for url in item.split(",") if url.strip()]
        inputs: list[UploadFile | str] = [target if target is not None else str(target_url).strip(), *sources, *urls]
        job_id = new_job_id()
        try:
            paths, kept, asked = await asyncio.to_thread(
                _accept_inputs, config, store, storage, job_id, owner, inputs, values, callback_url)
            job_request = {"target": str(paths[0]), "sources": [str(path) for path in paths[1:]], "options": values,
                           "callback_url": callback_url,
                           "output": str(storage.folders.output_path(job_id, output_suffix(str(paths[0]))))}
            if kept:
                job_request["input_objects"] = kept
            job, new = store.create(owner, job_request, idempotency_key, job_id=job_id,
                                    max_waiting=queued_limit(owner), fingerprint=asked)
        except BaseException as error:
            await asyncio.to_thread(_forget, storage, job_id)
            answer = refusal_of(error)
            if answer is None:
                raise
            raise answer from None
        if not new:
            await asyncio.to_thread(_forget, storage, job_id)
        workers.wake()
        return JSONResponse(describe(job), status_code=202 if new else 200)

    _add_job_routes(app, store, storage, workers, caller, own_job, describe, result_url)
    return app


def _add_job_routes(app: FastAPI, store: JobStore, storage: Storage, workers: LocalWorkers,
                    caller: Callable[[str | None], str], own_job: Callable[[str, str], JobRecord],
                    describe: Callable[[JobRecord], dict[str, Any]],
                    result_url: Callable[[JobRecord], str | None]) -> None:
    """The routes that read, follow, cancel and fetch a caller's own jobs."""

    @app.get("/v1/jobs")
    def list_jobs(status: str | None = None, limit: int = 50,
                  authorization: str | None = Header(None)) -> dict[str, Any]:
        owner = caller(authorization)
        if status is not None and status not in STATUSES:
            raise HTTPException(422, f"status: '{status}' is not one of {', '.join(STATUSES)}")
        if not 1 <= limit <= 500:
            raise HTTPException(422, "limit: give 1 to 500")
        return {"jobs": [describe(job) for job in store.list_jobs(owner, status, limit)]}

    @app.get("/v1/jobs/{job_id}")
    def status(job_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        return describe(own_job(job_id, caller(authorization)))

    @app.get("/v1/jobs/{job_id}/events")
    async def events(job_id: str, authorization: str | None = Header(None)) -> StreamingResponse:
        owner = caller(authorization)
        own_job(job_id, owner)

        async def stream() -> AsyncIterator[bytes]:
            last = None
            while True:
                job = store.get(job_id)
                assert job is not None
                now = describe(job)
                if now != last:
                    yield f"event: {job.status}\ndata: {json.dumps(now)}\n\n".encode()
                    last = now
                if job.finished:
                    return
                await asyncio.sleep(0.5)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.delete("/v1/jobs/{job_id}", status_code=202)
    def cancel(job_id: str, authorization: str | None = Header(None)) -> JSONResponse:
        """A queued or running job is cancelled (202); a finished one has its files deleted (200)."""
        if own_job(job_id, caller(authorization)).finished:
            purge(store, storage, job_id)
            job = store.get(job_id)
            assert job is not None
            return JSONResponse(describe(job), status_code=200)
        job = store.cancel(job_id)
        workers.cancel(job_id)
        assert job is not None
        return JSONResponse(describe(job), status_code=202)

    @app.get("/v1/jobs/{job_id}/result", response_model=None)
    def result(job_id: str, authorization: str | None = Header(None)) -> FileResponse | RedirectResponse:
        job = own_job(job_id, caller(authorization))
        if job.status != "done":
            raise HTTPException(409, f"job {job_id} is {job.status}: the result exists once it is done")
        if job.purged is not None:
            deleted = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(job.purged))
            raise HTTPException(410, f"job {job_id}'s files were deleted at {deleted}")
        url = result_url(job)
        if url and not url.startswith("/"):
            return RedirectResponse(url, status_code=307)
        output = Path(job.request["output"])
        return FileResponse(output, filename=f"{job_id}{output.suffix}")


def _public_report(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The run's report as a caller sees it: its engine line and warnings without server paths."""
    if report is None:
        return None
    public = dict(report)
    if isinstance(public.get("engine"), str):
        public["engine"] = without_server_paths(public["engine"])
    public["warnings"] = [without_server_paths(str(line)) for line in public.get("warnings") or []]
    return public


def _checked_request(config: ServiceConfig, consent: bool, options: str | None, callback_url: str | None
                     ) -> dict[str, Any]:
    """The request's fields other than its files: consent, options (over the server's defaults and the
    operator's marks), and a callback URL that is signed and goes to a public address."""
    try:
        require_consent(consent, "send consent=true")
    except RefusedError as error:
        raise HTTPException(422, error.message) from None
    try:
        values = check_options(parse_options(options), config.default_options, config.limits)
    except InvalidInputError as error:
        message = error.message if error.message.startswith("options:") else f"options: {error.message}"
        raise HTTPException(422, message) from None
    if callback_url is not None:
        if not config.webhook_secret:
            raise HTTPException(422, "callback_url: this server has no webhook secret, so its callbacks could not "
                                     "be signed; ask its operator to set FACEFUSION_WEBHOOK_SECRET, or poll the job")
        try:
            resolve(callback_url, config.callback_allow_hosts)
        except InvalidInputError as error:
            raise HTTPException(422, error.message) from None
    return values


def _accept_inputs(config: ServiceConfig, store: JobStore, storage: Storage, job_id: str, owner: str,
                   inputs: list[UploadFile | str], values: dict[str, Any], callback_url: str | None
                   ) -> tuple[list[Path], list[str], str]:
    """The job's inputs saved and checked: (their paths, target first; their object keys where the storage
    keeps them; the request's fingerprint)."""
    limit = config.keys[owner].max_upload_bytes or config.max_upload_bytes
    paths, objects = _save_inputs(storage, store, config.s3_inputs, job_id, owner, inputs, limit)
    check_media(paths, values, config.limits)
    asked = fingerprint(values, callback_url, paths, [item for item in inputs if isinstance(item, str)])
    return paths, storage.keep_inputs(job_id, paths, objects), asked


def _forget(storage: Storage, job_id: str) -> None:
    """A refused or repeated request leaves nothing behind (a failure here is left to the sweeper)."""
    try:
        storage.remove(job_id)
    except Exception:  # noqa: BLE001 - the sweeper removes what could not be removed now
        logger.exception("removing the files of refused request %s failed", job_id)


def _save_inputs(storage: Storage, store: JobStore, own_area: str, job_id: str, owner: str,
                 inputs: list[UploadFile | str], limit: int) -> tuple[list[Path], list[str | None]]:
    """The job's inputs in its folder, target first: uploads or objects of the storage named by URL, all
    counted against ``limit``; with each, the object it came from (None for an upload)."""
    written: list[Path] = []
    objects: list[str | None] = []
    total = 0
    for index, given in enumerate(inputs):
        if isinstance(given, str):
            key = storage.object_key(given)
            _check_object_owner(storage, store, own_area.format(caller=owner), owner, given, key)
            total += storage.object_size(key)
            if total > limit:
                raise HTTPException(413, f"the inputs are larger than your limit of {limit} bytes")
            path = storage.folders.input_path(job_id, index, given.rsplit("/", 1)[-1])
            written.append(storage.fetch(given, path))
            objects.append(key)
            continue
        path = storage.folders.input_path(job_id, index, given.filename or ("target" if index == 0 else "source"))
        with open(path, "wb") as handle:
            while block := given.file.read(1 << 20):
                total += len(block)
                if total > limit:
                    raise HTTPException(413, f"the upload is larger than your limit of {limit} bytes")
                handle.write(block)
        written.append(path)
        objects.append(None)
    return written, objects


def _check_object_owner(storage: Storage, store: JobStore, own_area: str, owner: str, url: str,
                        key: str) -> None:
    """A caller may name its own objects only: those under its area of the bucket, and the inputs and results
    of its own jobs."""
    if key.startswith(own_area.lstrip("/")):
        return
    job_id = storage.job_of(key)
    if job_id is not None and store.owner_of(job_id) == owner:
        return
    raise HTTPException(403, f"{url}: not one of your objects; name objects under {own_area} of the bucket, or "
                             "the inputs and results of your own jobs")


def storage_for(config: ServiceConfig) -> Storage:
    if config.storage.startswith("s3://"):
        return S3Storage(config.storage, config.data / "work", config.s3_endpoint, config.s3_url_expiry)
    return LocalStorage(Path(config.storage))

"""The HTTP job API (FastAPI): submit, follow, cancel and fetch jobs; list every option.

Routes (all but ``/health`` need ``Authorization: Bearer KEY``; a caller sees only its own jobs):

- ``POST /v1/jobs``: multipart ``sources`` (one or more photos), ``target`` (image or video), ``options``
  (JSON object of option names, checked like the CLI's flags), ``callback_url``, ``consent`` (must be
  true); header ``Idempotency-Key``. 202 with the job; the same key again gives the same job (200).
- ``GET /v1/jobs/{id}``, ``GET /v1/jobs/{id}/events`` (server-sent events until the job ends),
  ``DELETE /v1/jobs/{id}`` (cancel), ``GET /v1/jobs/{id}/result`` (the file).
- ``GET /v1/capabilities``: every option with its type, default, choices and range.
"""
from __future__ import annotations

import asyncio
import json
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import FastAPI, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse

from .. import __version__
from ..errors import InvalidInputError, RefusedError, StudioError
from ..media.image import is_image_path, read_image
from ..media.video import is_video_path, probe_video
from ..options import Options, make_options, option_specs
from ..pipeline import run
from ..safety.consent import require_consent
from ..safety.policy import SafetyPolicy
from ..workers.local import LocalWorkers, output_suffix
from .keys import Caller, caller_of
from .storage import LocalStorage, S3Storage
from .retention import Retention, purge
from .store import LEASE_SECONDS, STATUSES, JobRecord, JobStore, new_job_id



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
    workers: int = 1
    webhook_secret: str | None = None
    max_queued_jobs: int = 16
    """Per caller: jobs queued or running at once."""
    max_upload_bytes: int = 1 << 30
    """Per request: all uploaded files together."""
    segment_frames: int = 240
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


def capabilities(server_defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every option as an API caller needs it: its JSON type, default (this server's where it sets one),
    choices, range and help."""
    defaults = Options().replace(**(server_defaults or {}))
    described = {}
    for name, spec in option_specs().items():
        default = getattr(defaults, name)
        kind = Options.__dataclass_fields__[name].type
        described[name] = {
            "flag": spec.flag, "group": spec.group, "help": spec.help, "default": default,
            "type": "array" if spec.multiple else "boolean" if isinstance(default, bool) else
            "string" if "str" in str(kind) else "number" if "float" in str(kind) else "integer",
            "choices": list(spec.choices) if spec.choices is not None else None,
            "minimum": spec.minimum, "maximum": spec.maximum, "accepts_onnx_path": spec.accepts_onnx_path,
        }
    return {"version": __version__, "options": described}


def _check_options(raw: str | None, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The options JSON over the server's defaults, checked by the option definitions (422 naming the option
    that is off)."""
    try:
        values = json.loads(raw) if raw else {}
    except ValueError:
        raise HTTPException(422, "options: not JSON; send an object such as {\"face_selector_mode\": \"many\"}")
    if not isinstance(values, dict):
        raise HTTPException(422, "options: send a JSON object of option names and values")
    values = {**(defaults or {}), **values}
    try:
        make_options(**values)
    except InvalidInputError as error:
        raise HTTPException(422, f"options: {error.message}") from None
    except TypeError as error:
        raise HTTPException(422, f"options: {error}") from None
    return values


def create_service(config: ServiceConfig) -> FastAPI:
    """The app, its store, storage and workers (started with the app, stopped with it)."""
    store = JobStore(config.store or config.data / "jobs.sqlite3", lease_seconds=config.job_lease)
    storage = storage_for(config)
    storage.check()
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        workers.start()
        if retention is not None:
            retention.start()
        try:
            yield
        finally:
            if retention is not None:
                retention.close()
            workers.close()
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
                "progress": job.progress, "report": job.result, "error": job.error, "result_url": result_url(job),
                "files_deleted": job.purged, "callbacks": job.callbacks}

    pool = None
    if config.ray_address:
        from ..workers.ray_pool import RayPool

        pool = RayPool(config.ray_address, config.ray_actors)
    workers = LocalWorkers(store=store, safety=config.safety, describe=describe, storage=storage,
                           runner=pool.run if pool is not None else run, count=config.workers,
                           webhook_secret=config.webhook_secret, segment_frames=config.segment_frames)
    app.state.store, app.state.workers = store, workers
    retention = Retention(store, storage, config.keep_files) if config.keep_files else None

    def caller(authorization: str | None) -> str:
        name = caller_of(authorization, config.keys)
        if name is None:
            raise HTTPException(401, "give a valid API key: Authorization: Bearer KEY",
                                headers={"WWW-Authenticate": "Bearer"})
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
        return capabilities(config.default_options)

    @app.post("/v1/jobs", status_code=202)
    async def submit(request: Request, target: UploadFile | None = File(None),
                     sources: list[UploadFile] = File(default=[]), target_url: str | None = Form(None),
                     source_urls: list[str] = Form(default=[]), options: str | None = Form(None),
                     callback_url: str | None = Form(None),
                     consent: bool = Form(False), authorization: str | None = Header(None),
                     idempotency_key: str | None = Header(None)) -> JSONResponse:
        owner = caller(authorization)
        if idempotency_key:
            earlier = store.find(owner, idempotency_key)
            if earlier is not None:
                return JSONResponse(describe(earlier), status_code=200)
        try:
            require_consent(consent, "send consent=true")
        except RefusedError as error:
            raise HTTPException(422, error.message) from None
        values = _check_options(options, config.default_options)
        if callback_url is not None and not callback_url.startswith(("http://", "https://")):
            raise HTTPException(422, "callback_url: give an http(s) URL")
        limits = config.keys[owner]
        queued_limit = limits.max_queued_jobs or config.max_queued_jobs
        upload_limit = limits.max_upload_bytes or config.max_upload_bytes
        if store.count_waiting(owner) >= queued_limit:
            raise HTTPException(429, f"{queued_limit} of your jobs are already queued or running; wait for one to "
                                     "finish")
        declared = int(request.headers.get("content-length") or 0)
        if declared > upload_limit:
            raise HTTPException(413, f"the upload is larger than your limit of {upload_limit} bytes")
        if (target is None) == (target_url is None):
            raise HTTPException(422, "target: send either a target file or a target_url")
        job_id = new_job_id()
        try:
            paths, objects = await asyncio.to_thread(_save_inputs, storage, job_id, target, target_url, sources,
                                                     source_urls, upload_limit)
            await asyncio.to_thread(_check_media, paths, values)
            kept = await asyncio.to_thread(storage.keep_inputs, job_id, paths, objects)
        except HTTPException:
            storage.remove(job_id)
            raise
        except StudioError as error:
            storage.remove(job_id)
            raise HTTPException(422, error.message) from None
        target_path, source_paths = paths[0], paths[1:]
        job_request = {"target": str(target_path), "sources": [str(path) for path in source_paths], "options": values,
                       "callback_url": callback_url,
                       "output": str(storage.output_path(job_id, output_suffix(str(target_path))))}
        if kept:
            job_request["input_objects"] = kept
        job, new = store.create(owner, job_request, idempotency_key, job_id=job_id)
        if not new:
            storage.remove(job_id)
        workers.wake()
        return JSONResponse(describe(job), status_code=202 if new else 200)

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

    return app


def _save_inputs(storage: LocalStorage, job_id: str, target: UploadFile | None, target_url: str | None,
                 sources: list[UploadFile], source_urls: list[str], limit: int) -> tuple[list[Path], list[str | None]]:
    """The job's inputs in its folder, target first: uploads (counted against ``limit``) or objects of the
    storage named by URL; with each, the object it came from (None for an upload)."""
    written: list[Path] = []
    objects: list[str | None] = []
    total = 0
    inputs: list[UploadFile | str] = [target if target is not None else str(target_url), *sources,
                                      *[url for item in source_urls for url in item.split(",") if url.strip()]]
    for index, given in enumerate(inputs):
        if isinstance(given, str):
            path = storage.input_path(job_id, index, given.rsplit("/", 1)[-1])
            written.append(storage.fetch(given.strip(), path))
            objects.append(storage.object_key(given.strip()))
            continue
        path = storage.input_path(job_id, index, given.filename or ("target" if index == 0 else "source"))
        with open(path, "wb") as handle:
            while block := given.file.read(1 << 20):
                total += len(block)
                if total > limit:
                    raise HTTPException(413, f"the upload is larger than your limit of {limit} bytes")
                handle.write(block)
        written.append(path)
        objects.append(None)
    return written, objects


def storage_for(config: ServiceConfig) -> LocalStorage:
    if config.storage.startswith("s3://"):
        return S3Storage(config.storage, config.data / "work", config.s3_endpoint, config.s3_url_expiry)
    return LocalStorage(Path(config.storage))


def _check_media(paths: list[Path], options: dict[str, Any]) -> None:
    """Decode what was uploaded before the job is accepted: a bad file is the caller's 422, not a failed job."""
    target, sources = paths[0], paths[1:]
    if is_image_path(str(target)):
        read_image(str(target))
    elif is_video_path(str(target)):
        probe_video(str(target))
    else:
        raise InvalidInputError(f"target: unsupported type '{target.suffix}'; send an image (jpg, png, webp, bmp, "
                                "tiff) or a video (mp4, mov, mkv, webm, avi)")
    for source in sources:
        if not is_image_path(str(source)):
            raise InvalidInputError(f"sources: {source.name[3:]} is not an image (jpg, png, webp, bmp, tiff)")
        read_image(str(source))
    if not sources and "face_swapper" in options.get("processors", Options().processors):
        raise InvalidInputError("sources: the face swapper needs at least one source photo")


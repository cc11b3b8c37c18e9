"""The job routes: submit, list, read, follow, cancel and fetch a caller's own jobs (``/v1/jobs``)."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse

from ..errors import InvalidInputError, RefusedError, StudioError
from ..media.image import output_suffix
from ..options import make_options
from ..processors.background_remover import makes_transparency
from ..safety.consent import require_consent
from .admission import Refusal, check_media, check_options, fingerprint, is_disk_full, parse_options
from .callbacks import resolve
from .config import ServiceConfig
from .context import JobList, JobView, Service, caller, current_service, own_job, queue_full
from .retention import purge
from .storage import Storage
from .store import STATUSES, IdempotencyConflict, JobRecord, JobStore, QueueFull, new_job_id

logger = logging.getLogger("facefusion")

router = APIRouter(prefix="/v1/jobs")


@router.post("", status_code=202, response_model=JobView)
async def submit(target: UploadFile | None = File(None), sources: list[UploadFile] = File(default=[]),
                 target_url: str | None = Form(None), source_urls: list[str] = Form(default=[]),
                 options: str | None = Form(None), callback_url: str | None = Form(None),
                 consent: bool = Form(False), idempotency_key: str | None = Header(None),
                 owner: str = Depends(caller), service: Service = Depends(current_service)) -> JSONResponse:
    """A new job (202), or the job an earlier request with the same Idempotency-Key made (200)."""
    config, store, storage = service.config, service.store, service.storage
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
                       "output": str(storage.folders.output_path(job_id, output_suffix(
                           str(paths[0]), makes_transparency(make_options(**values)))))}
        if kept:
            job_request["input_objects"] = kept
        job, new = store.create(owner, job_request, idempotency_key, job_id=job_id,
                                max_waiting=service.queued_limit(owner), fingerprint=asked)
    except BaseException as error:
        await asyncio.to_thread(_forget, storage, job_id)
        answer = refusal_of(error)
        if answer is None:
            raise
        raise answer from None
    if not new:
        await asyncio.to_thread(_forget, storage, job_id)
    assert service.workers is not None
    service.workers.wake()
    return JSONResponse(service.describe(job), status_code=202 if new else 200)


@router.get("", response_model=JobList)
def list_jobs(status: str | None = None, limit: int = 50, owner: str = Depends(caller),
              service: Service = Depends(current_service)) -> dict[str, Any]:
    if status is not None and status not in STATUSES:
        raise HTTPException(422, f"status: '{status}' is not one of {', '.join(STATUSES)}")
    if not 1 <= limit <= 500:
        raise HTTPException(422, "limit: give 1 to 500")
    return {"jobs": [service.describe(job) for job in service.store.list_jobs(owner, status, limit)]}


@router.get("/{job_id}", response_model=JobView)
def status(job: JobRecord = Depends(own_job), service: Service = Depends(current_service)) -> dict[str, Any]:
    return service.describe(job)


@router.get("/{job_id}/events")
async def events(job: JobRecord = Depends(own_job), service: Service = Depends(current_service)
                 ) -> StreamingResponse:
    """Server-sent events: the job (JobView) each time it changes, until it ends."""
    job_id = job.id

    async def stream() -> AsyncIterator[bytes]:
        last = None
        while True:
            current = service.store.get(job_id)
            assert current is not None
            now = service.describe(current)
            if now != last:
                yield f"event: {current.status}\ndata: {json.dumps(now)}\n\n".encode()
                last = now
            if current.finished:
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.delete("/{job_id}", status_code=202, response_model=JobView)
def cancel(job: JobRecord = Depends(own_job), service: Service = Depends(current_service)) -> JSONResponse:
    """A queued or running job is cancelled (202); a finished one has its files deleted (200)."""
    if job.finished:
        purge(service.store, service.storage, job.id)
        purged = service.store.get(job.id)
        assert purged is not None
        return JSONResponse(service.describe(purged), status_code=200)
    cancelled = service.store.cancel(job.id)
    assert cancelled is not None and service.workers is not None
    service.workers.cancel(job.id)
    return JSONResponse(service.describe(cancelled), status_code=202)


@router.get("/{job_id}/result", response_model=None)
def result(job: JobRecord = Depends(own_job), service: Service = Depends(current_service)
           ) -> FileResponse | RedirectResponse:
    """The result file (or a redirect to its presigned URL with object storage)."""
    if job.status != "done":
        raise HTTPException(409, f"job {job.id} is {job.status}: the result exists once it is done")
    if job.purged is not None:
        deleted = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(job.purged))
        raise HTTPException(410, f"job {job.id}'s files were deleted at {deleted}")
    url = service.result_url(job)
    if url and not url.startswith("/"):
        return RedirectResponse(url, status_code=307)
    output = Path(job.request["output"])
    return FileResponse(output, filename=f"{job.id}{output.suffix}")


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

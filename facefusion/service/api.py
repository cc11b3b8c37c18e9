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

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from ..errors import without_server_paths
from ..options import Options, option_kind, option_specs
from ..pipeline import run
from ..version import __version__
from ..workers.local import LocalWorkers
from . import jobs
from .admission import OPERATOR_OPTIONS, JobLimits
from .config import ServiceConfig
from .context import Service, caller
from .gate import UploadGate
from .outbox import CallbackSender
from .retention import Retention, Sweeper
from .storage import LocalStorage, S3Storage, Storage
from .store import JobStore

__all__ = ["ServiceConfig", "capabilities", "create_service", "storage_for"]

logger = logging.getLogger("facefusion")


def capabilities(server_defaults: dict[str, Any] | None = None, limits: JobLimits | None = None) -> dict[str, Any]:
    """Every option as an API caller needs it: its JSON type, default (this server's where it sets one),
    choices, range and help; the marks are shown with the operator's values, as not the caller's to set."""
    limits = limits or JobLimits()
    defaults = Options().replace(**{**(server_defaults or {}), **limits.marks})
    described = {}
    for name, spec in option_specs().items():
        default = getattr(defaults, name)
        choices = spec.choices if name != "processors" else limits.allowed_processors
        described[name] = {
            "flag": spec.flag, "group": spec.group, "help": spec.help, "default": default,
            "type": "array" if spec.multiple else option_kind(name),
            "choices": list(choices) if choices is not None else None,
            "minimum": spec.minimum, "maximum": spec.maximum, "accepts_onnx_path": spec.accepts_onnx_path,
            "set_by_operator": name in OPERATOR_OPTIONS,
        }
    return {"version": __version__, "options": described,
            "limits": {"max_pixels": limits.max_pixels, "max_video_frames": limits.max_video_frames,
                       "max_video_seconds": limits.max_video_seconds}}


def create_service(config: ServiceConfig) -> FastAPI:
    """The app, its store, storage, workers and callback sender (started with the app, stopped with it)."""
    service = _service(config)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(title="facefusion-studio job API", version=__version__, lifespan=lifespan,
                  description="Swap and enhance faces in images and videos, as jobs.")
    app.state.service = service
    app.add_middleware(UploadGate, keys=config.keys, upload_limit=config.max_upload_bytes, admit=service.admit)

    @app.exception_handler(HTTPException)
    async def public_error(_: Request, error: HTTPException) -> JSONResponse:
        # Messages name the caller's files, never where the server keeps them.
        detail = without_server_paths(error.detail) if isinstance(error.detail, str) else error.detail
        return JSONResponse({"detail": detail}, status_code=error.status_code, headers=error.headers)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/v1/capabilities", dependencies=[Depends(caller)])
    def list_capabilities() -> dict[str, Any]:
        return capabilities(config.default_options, config.limits)

    app.include_router(jobs.router)
    return app


def _service(config: ServiceConfig) -> Service:
    store = JobStore(config.store or config.data / "jobs.sqlite3", lease_seconds=config.job_lease)
    storage = storage_for(config)
    storage.check()
    service = Service(config=config, store=store, storage=storage,
                      sender=CallbackSender(store, config.webhook_secret, config.callback_allow_hosts,
                                            config.callback_retry_after),
                      sweeper=Sweeper(store, storage, quiet_seconds=max(config.job_lease, 1.0)),
                      retention=Retention(store, storage, config.keep_files) if config.keep_files else None)
    if config.ray_address:
        from ..workers.ray_pool import RayPool

        service.pool = RayPool(config.ray_address, config.ray_actors)
    service.workers = LocalWorkers(store=store, safety=config.safety, describe=service.describe, storage=storage,
                                   runner=service.pool.run if service.pool is not None else run,
                                   count=config.workers, segment_frames=config.segment_frames,
                                   on_callback=service.sender.wake, job_deadline=config.job_deadline)
    return service


def storage_for(config: ServiceConfig) -> Storage:
    if config.storage.startswith("s3://"):
        return S3Storage(config.storage, config.data / "work", config.s3_endpoint, config.s3_url_expiry)
    return LocalStorage(Path(config.storage))

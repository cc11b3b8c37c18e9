"""What the operator set for a job API process (``facefusion serve``'s flags)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..parts import SEGMENT_FRAMES
from ..safety.policy import SafetyPolicy
from .admission import JobLimits
from .callbacks import RETRY_AFTER
from .keys import Caller
from .store import LEASE_SECONDS


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

"""``serve``: the studio as an HTTP job API, and the operator's flags for it."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from ..errors import EXIT_OK, InvalidInputError
from ..options import PROCESSOR_NAMES, make_options
from ..parts import SEGMENT_FRAMES
from ..safety.policy import add_safety_flags, policy_from_args
from ..service.callbacks import RETRY_AFTER
from ..service.store import LEASE_SECONDS
from .flags import EXIT_CODES_HELP, add_log_level

logger = logging.getLogger("facefusion")


def add_serve_command(commands: Any) -> None:
    serve = commands.add_parser(
        "serve", help="the studio as an HTTP job API (API keys, job store, workers, signed callbacks)",
        description="Serve the job API: POST /v1/jobs, GET /v1/jobs/ID (and /events, /result), DELETE /v1/jobs/ID, "
                    "GET /v1/capabilities; OpenAPI documentation at /docs.", epilog=EXIT_CODES_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument("--forwarded-allow-ips", default=os.environ.get("FORWARDED_ALLOW_IPS", ""),
                       metavar="ADDRESSES", help="comma-separated addresses of the reverse proxies whose "
                       "X-Forwarded-For names the client (default: none; the logs then name the proxy)")
    serve.add_argument("--api-keys", required=True, metavar="FILE",
                       help="callers and their keys, one 'NAME KEY' per line (keys of 16 characters or more, e.g. "
                            "from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), optionally with "
                            "the caller's own limits: 'NAME KEY queued=64 upload=4gb'")
    serve.add_argument("--data", default="service-data", metavar="DIR",
                       help="folder of the job store (jobs.sqlite3) and, unless --storage says otherwise, the jobs' "
                            "files (default: service-data)")
    serve.add_argument("--store", default=None, metavar="URL",
                       help="the job store: SQLite in --data (default) or postgresql://USER@HOST:PORT/DB for several "
                            "API processes (needs make cluster)")
    serve.add_argument("--storage", default=None, metavar="DIR or s3://BUCKET/PREFIX",
                       help="where the jobs' inputs and results go: a folder (default: DATA/files) or S3-compatible "
                            "storage, results handed out as presigned URLs (credentials: AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY, or boto3's other ways)")
    serve.add_argument("--s3-endpoint", default=None, metavar="URL",
                       help="the S3 server, for storage other than AWS (e.g. http://127.0.0.1:8333)")
    serve.add_argument("--s3-url-expiry", type=int, default=86400, metavar="SECONDS",
                       help="how long a result's presigned URL works (default: 86400, a day)")
    serve.add_argument("--workers", type=int, default=1,
                       help="jobs run at once in this process (default: 1; 0: this process only accepts jobs, "
                            "other servers on the same --store run them)")
    serve.add_argument("--keep-files", default=None, metavar="DURATION",
                       help="delete a finished job's inputs and result this long after it ended, e.g. 24h or 7d "
                            "(default: kept until the caller deletes them with DELETE /v1/jobs/ID)")
    serve.add_argument("--job-lease", type=float, default=LEASE_SECONDS, metavar="SECONDS",
                       help="how long a running job stays with a server that stopped answering before another "
                            f"server on the same --store takes it and resumes it (default: {LEASE_SECONDS:g})"),
    serve.add_argument("--max-queued-jobs", type=int, default=16,
                       help="jobs a caller may have queued or running at once (default: 16)")
    serve.add_argument("--max-upload-size", default="1gb", help="largest upload of one request (default: 1gb)")
    _add_serve_limits(serve)
    serve.add_argument("--video-segment-frames", type=int, default=SEGMENT_FRAMES, metavar="FRAMES",
                       help="frames per resumable segment of a video job: what a restart can cost "
                            f"(default: {SEGMENT_FRAMES})")
    serve.add_argument("--default-options", default=None, metavar="JSON",
                       help="options every job gets unless it gives its own, e.g. "
                            "'{\"execution_providers\": [\"cuda\"]}' on GPU workers")
    serve.add_argument("--ray-address", default=None, metavar="ADDRESS",
                       help="run the jobs on this Ray cluster (e.g. 127.0.0.1:6379; needs make cluster): long-lived "
                            "actors keep the models, a video's segments spread over them")
    serve.add_argument("--ray-actors", type=int, default=None, metavar="N",
                       help="actors to start (default: one per GPU of the cluster, else one per CPU)")
    add_safety_flags(serve)
    add_log_level(serve)


def _add_serve_limits(serve: Any) -> None:
    """What an operator bounds and decides for every job: sizes, time, processors, marks, callbacks."""
    serve.add_argument("--max-pixels", default="40mp", metavar="SIZE",
                       help="largest photo or video frame a job may send, in pixels (default: 40mp; 8K is 33mp)")
    serve.add_argument("--max-video-frames", type=int, default=18_000, metavar="N",
                       help="most frames of a job's video (default: 18000)")
    serve.add_argument("--max-video-duration", default="15m", metavar="DURATION",
                       help="longest video a job may send (default: 15m)")
    serve.add_argument("--job-deadline", default="1h", metavar="DURATION",
                       help="a job still running after this is stopped and failed (default: 1h; 0 for none)")
    serve.add_argument("--allowed-processors", nargs="+", default=list(PROCESSOR_NAMES), metavar="PROCESSOR",
                       choices=PROCESSOR_NAMES, help="processors jobs may use (default: all)")
    serve.add_argument("--output-label", default=None, metavar="TEXT",
                       help="visible label burnt into every result (default: none); the marks are this server's "
                            "decision, callers cannot change them")
    serve.add_argument("--output-watermark", action=argparse.BooleanOptionalAction, default=True,
                       help="hide the invisible watermark in every result (default: on)")
    serve.add_argument("--s3-inputs", default="inputs/{caller}/", metavar="PREFIX",
                       help="with S3 storage: where in the bucket each caller's own objects are, which target_url "
                            "and source_urls may name ({caller} is the caller's name; default: inputs/{caller}/)")
    serve.add_argument("--webhook-secret-file", default=None, metavar="FILE",
                       help="file holding the secret that signs every callback (HMAC-SHA256); or set "
                            "$FACEFUSION_WEBHOOK_SECRET. Without either, jobs cannot ask for callbacks. (A secret "
                            "is never given on the command line, where `ps` shows it to every user.)")
    serve.add_argument("--callback-allow-hosts", default="", metavar="HOST[,HOST...]",
                       help="non-public hosts (names or addresses) callbacks may reach, e.g. a receiver on your own "
                            "network; by default callbacks go to public addresses only")
    serve.add_argument("--callback-retry-after", default=",".join(f"{pause:g}" for pause in RETRY_AFTER),
                       metavar="SECONDS,...", help="pauses before each retry of a failed callback (default: "
                       f"{','.join(f'{pause:g}' for pause in RETRY_AFTER)})")


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..service.api import ServiceConfig, create_service
    from ..service.keys import load_keys

    if args.workers < 0 or args.max_queued_jobs < 1 or args.max_video_frames < 1:
        raise InvalidInputError("--workers: give 0 or more; --max-queued-jobs, --max-video-frames: give 1 or more")
    if args.job_lease < 1:
        raise InvalidInputError("--job-lease: give 1 second or more")
    defaults = _default_options(args.default_options)
    data = Path(args.data)
    config = ServiceConfig(keys=load_keys(args.api_keys), data=data, storage=args.storage or str(data / "files"),
                           s3_endpoint=args.s3_endpoint, s3_url_expiry=args.s3_url_expiry, s3_inputs=args.s3_inputs,
                           workers=args.workers, webhook_secret=_webhook_secret(args.webhook_secret_file),
                           callback_allow_hosts=frozenset(host.strip().lower().strip("[]") for host in
                                                          args.callback_allow_hosts.split(",") if host.strip()),
                           callback_retry_after=_pauses(args.callback_retry_after),
                           max_queued_jobs=args.max_queued_jobs, max_upload_bytes=_size("--max-upload-size",
                                                                                        args.max_upload_size),
                           limits=_job_limits(args), job_deadline=_duration("--job-deadline", args.job_deadline),
                           segment_frames=max(1, args.video_segment_frames), safety=policy_from_args(args),
                           ray_address=args.ray_address, ray_actors=args.ray_actors, store=args.store,
                           job_lease=args.job_lease, keep_files=_duration("--keep-files", args.keep_files),
                           default_options=defaults)
    if config.webhook_secret is None:
        logger.warning("no webhook secret (--webhook-secret-file or $FACEFUSION_WEBHOOK_SECRET): jobs that ask for "
                       "a callback are refused")
    logger.info("job API on http://%s:%d (documentation at /docs), %d worker(s), data in %s", args.host, args.port,
                args.workers, data)
    uvicorn.run(create_service(config), host=args.host, port=args.port, log_level=args.log_level.replace("warn",
                "warning"), access_log=args.log_level == "debug", forwarded_allow_ips=args.forwarded_allow_ips)
    return EXIT_OK


def _job_limits(args: argparse.Namespace) -> Any:
    from ..service.admission import JobLimits

    return JobLimits(max_pixels=_pixels(args.max_pixels),
                     max_video_frames=args.max_video_frames,
                     max_video_seconds=_duration("--max-video-duration", args.max_video_duration) or 0.0,
                     allowed_processors=tuple(args.allowed_processors),
                     marks={"output_watermark": args.output_watermark, "output_label": args.output_label or None},
                     check_providers=args.ray_address is None)


def _size(flag: str, text: str) -> int:
    """A size flag: 500mb, 20gb."""
    from ..units import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise InvalidInputError(f"{flag}: {error}") from None


def _pixels(text: str) -> int:
    """``--max-pixels``: 40mp (megapixels) or a number of pixels."""
    from ..units import parse_pixels

    try:
        return parse_pixels(text)
    except ValueError as error:
        raise InvalidInputError(f"--max-pixels: {error}") from None


def _duration(flag: str, text: str | None) -> float | None:
    """A duration flag (24h, 30m, 90s); None or 0 for none."""
    from ..units import parse_duration

    if not text or text.strip() == "0":
        return None
    try:
        return parse_duration(text)
    except ValueError as error:
        raise InvalidInputError(f"{flag}: {error}") from None


def _pauses(text: str) -> tuple[float, ...]:
    try:
        pauses = tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError:
        pauses = ()
    if not pauses or any(not 0 < pause < 86400 for pause in pauses):
        raise InvalidInputError("--callback-retry-after: give pauses in seconds, e.g. 5,30,120")
    return pauses


def _webhook_secret(path: str | None) -> str | None:
    """The callback secret from its file or $FACEFUSION_WEBHOOK_SECRET (never a flag's value)."""
    if path is None:
        return os.environ.get("FACEFUSION_WEBHOOK_SECRET") or None
    try:
        secret = Path(path).read_text().strip()
    except OSError as error:
        raise InvalidInputError(f"--webhook-secret-file: cannot read {path}: {error.strerror}") from None
    if len(secret) < 16:
        raise InvalidInputError("--webhook-secret-file: the secret is shorter than 16 characters")
    return secret


def _default_options(text: str | None) -> dict[str, Any]:
    """``--default-options``: a JSON object of option names, checked like a job's options."""
    import json

    if not text:
        return {}
    try:
        values = json.loads(text)
    except ValueError:
        raise InvalidInputError("--default-options: not JSON; give an object such as "
                                "'{\"execution_providers\": [\"cuda\"]}'") from None
    if not isinstance(values, dict):
        raise InvalidInputError("--default-options: give a JSON object of option names and values")
    try:
        make_options(**values)
    except InvalidInputError as error:
        raise InvalidInputError(f"--default-options: {error.message}") from None
    except TypeError as error:
        raise InvalidInputError(f"--default-options: {error}") from None
    return values

"""The command line: ``facefusion headless-run -s SRC -t TARGET -o OUTPUT [options]``.

Flags are built from :mod:`facefusion.options`, so ``-h`` always lists every option with its
default and choices. Library errors become one-line messages and the exit codes below.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .console import quiet_native_logs
from .errors import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_STOPPED,
    InvalidInputError,
    RefusedError,
    StudioError,
    storage_error,
)
from .options import PROCESSOR_NAMES, Options, make_options, option_kind, option_specs
from .parts import SEGMENT_FRAMES
from .safety.policy import add_safety_flags, policy_from_args
from .service.callbacks import RETRY_AFTER
from .service.store import LEASE_SECONDS
from .version import __version__

logger = logging.getLogger("facefusion")

FACEFUSION_SPELLINGS = {"processors": ["--frame-processors"], "execution_providers": ["--execution-provider"]}
"""FaceFusion's older flag names, accepted so that commands written for it run unchanged (also -s/-t/-o's
--source, --target, --output)."""
EXIT_CODES_HELP = ("exit codes: 0 done, 1 failure, 2 invalid input or options, 3 refused by a safety check, "
                   "4 stopped by the user")


def _add_option_flags(parser: argparse.ArgumentParser) -> None:
    defaults = Options()
    groups: dict[str, argparse._ArgumentGroup] = {}
    for name, spec in option_specs().items():
        group = groups.setdefault(spec.group, parser.add_argument_group(spec.group))
        default = getattr(defaults, name)
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        details = [f"default: {'none' if shown is None else shown}"]
        if spec.choices is not None:
            details.append(f"choices: {', '.join(map(str, spec.choices))}")
        elif spec.minimum is not None and spec.maximum is not None and spec.maximum >= 1e9:
            details.append(f"{spec.minimum:g} or more")
        elif spec.minimum is not None:
            details.append(f"range: {spec.minimum:g} to {spec.maximum:g}")
        if isinstance(default, bool):
            group.add_argument(spec.flag, dest=name, default=default, action=argparse.BooleanOptionalAction,
                               help=f"{spec.help} (default: {'on' if default else 'off'})")
            continue
        kind: Any = type(default[0]) if isinstance(default, list) else type(default)
        if default is None:
            kind = {"string": str, "number": float, "integer": int}.get(option_kind(name), str)
        group.add_argument(spec.flag, *FACEFUSION_SPELLINGS.get(name, []), dest=name, type=kind, default=default,
                           metavar=name.upper().split("_")[-1] if spec.choices is None else None,
                           choices=None if spec.accepts_onnx_path else spec.choices,
                           nargs="+" if spec.multiple else None,
                           help=f"{spec.help} ({'; '.join(details)})")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (and exit code 2) instead of the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see {self.prog} -h)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="facefusion", description="Face-swap and face-enhancement studio (offline engine built in).",
        epilog=EXIT_CODES_HELP)
    parser.add_argument("-v", "--version", action="version", version=f"facefusion {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "headless-run", help="process one target without the UI", epilog=EXIT_CODES_HELP,
        description="Swap faces in a target image and write the result.")
    paths = run.add_argument_group("paths")
    paths.add_argument("-s", "--source-paths", "--source", nargs="+", default=[], metavar="SOURCE",
                       help="source photo(s) of one person; several photos make one better identity")
    paths.add_argument("-t", "--target-path", "--target", required=True, metavar="TARGET", help="the image or video to process")
    paths.add_argument("-o", "--output-path", "--output", required=True, metavar="OUTPUT",
                       help="where to write the result; its extension sets the format (jpg, png, webp for "
                            "images; mp4, mov, mkv, webm for videos)")
    paths.add_argument("--face-map", nargs="+", default=[], metavar="KEY=SOURCE",
                       help="give target faces their own sources: KEY is a position in --face-selector-order "
                            "(0, 1, ...) or a reference photo of that person; SOURCE is one or more photos "
                            "joined by commas, e.g. --face-map 0=alice.jpg 1=bob1.jpg,bob2.jpg")
    paths.add_argument("--reference-face-path", default=None, metavar="IMAGE",
                       help="image that holds the reference face for --face-selector-mode reference "
                            "(default: the target itself)")
    _add_run_flags(run)
    batch = commands.add_parser(
        "batch-run", help="process every target a pattern matches (with every source photo a pattern matches)",
        epilog=EXIT_CODES_HELP, description="One run per (source, target) pair; a run that fails is reported and "
        "the batch goes on (exit code 1 at the end if any failed).")
    patterns = batch.add_argument_group("patterns")
    patterns.add_argument("-s", "--source-pattern", nargs="+", default=[], metavar="PATTERN",
                          help="source photos, e.g. 'faces/*.jpg'; each is used on its own; leave out for "
                               "processors that need no source (enhancers)")
    patterns.add_argument("-t", "--target-pattern", nargs="+", required=True, metavar="PATTERN",
                          help="targets, e.g. 'clips/*.mp4' (several patterns or files may follow)")
    patterns.add_argument("-o", "--output-pattern", required=True, metavar="PATTERN",
                          help="output names with {index}, {source_name}, {target_name}, {target_extension}, e.g. "
                               "'out/{source_name}-{target_name}.{target_extension}'; missing folders are made")
    patterns.add_argument("--reference-face-path", default=None, metavar="IMAGE",
                          help="image that holds the reference face (default: each target itself)")
    _add_run_flags(batch)
    _add_models_command(commands)
    inspect = commands.add_parser(
        "inspect", help="whether a file carries this product's invisible watermark, and what its metadata says",
        description="Reads a picture's or video's invisible watermark (this product's mark and the output id "
                    "its run logged) and its metadata (software, description, IPTC digital source type).",
        epilog="exit codes: 0 the watermark was found, 1 it was not, 2 the file cannot be read")
    inspect.add_argument("file", help="image or video to inspect")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_serve_command(commands)
    commands.add_parser("ui", help="the web app: `facefusion ui [app.py's flags]` (e.g. --server-name 0.0.0.0)",
                        add_help=False)
    commands.add_parser("system", help="what this installation can use: versions, ONNX Runtime providers, GPU, "
                        "the CUDA/cuDNN it needs, encoders, models present", epilog=EXIT_CODES_HELP)
    return parser


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    """What every processing command takes besides its paths: resume, models folder, all options."""
    parser.add_argument("--resume", dest="resume", action="store_true", default=True,
                        help="continue a video run that was stopped or killed, from its last complete segment "
                             "(the default: running the same command again does it)")
    parser.add_argument("--no-resume", dest="resume", action="store_false",
                        help="discard the saved part of an earlier run and start over")
    parser.add_argument("--models-dir", default=None, metavar="FOLDER",
                        help="folder of neural model files (default: $FACEFUSION_MODELS_DIR or models/ in the "
                             "project)")
    parser.add_argument("--video-segment-frames", type=int, default=SEGMENT_FRAMES, metavar="FRAMES",
                        help="frames per resumable segment of a video run: the most a crash can cost "
                             f"(default: {SEGMENT_FRAMES})")
    _add_option_flags(parser)
    add_safety_flags(parser)
    parser.add_argument("--log-level", default="info", choices=["error", "warn", "info", "debug"],
                        help="how much to print (default: info)")


def _add_serve_command(commands: Any) -> None:
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
    serve.add_argument("--log-level", default="info", choices=["error", "warn", "info", "debug"],
                       help="how much to print (default: info)")


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


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .service.api import ServiceConfig, create_service
    from .service.keys import load_keys

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
    from .service.admission import JobLimits

    return JobLimits(max_pixels=_pixels(args.max_pixels),
                     max_video_frames=args.max_video_frames,
                     max_video_seconds=_duration("--max-video-duration", args.max_video_duration) or 0.0,
                     allowed_processors=tuple(args.allowed_processors),
                     marks={"output_watermark": args.output_watermark, "output_label": args.output_label or None},
                     check_providers=args.ray_address is None)


def _size(flag: str, text: str) -> int:
    """A size flag: 500mb, 20gb."""
    from .ui.uploads import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise InvalidInputError(f"{flag}: {error}") from None


def _pixels(text: str) -> int:
    """``--max-pixels``: 40mp (megapixels) or a number of pixels."""
    value = text.strip().lower().removesuffix("mp")
    try:
        pixels = float(value) * (1e6 if value != text.strip().lower() else 1)
    except ValueError:
        pixels = 0
    if pixels < 1:
        raise InvalidInputError(f"--max-pixels: '{text}' is not a size such as 40mp or 8294400")
    return int(pixels)


def _duration(flag: str, text: str | None) -> float | None:
    """A duration flag (24h, 30m, 90s); None or 0 for none."""
    from .service.retention import parse_duration

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


def _ui(arguments: list[str]) -> int:
    """The web app (app.py beside the package) with its own flags, e.g. `facefusion ui --server-name 0.0.0.0`."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if not (root / "app.py").is_file():
        print("error: the web app (app.py) is not beside this installation; run it from a checkout", file=sys.stderr)
        return EXIT_FAILURE
    sys.path.insert(0, str(root))
    import app

    app.main(arguments)
    return EXIT_OK


def _add_models_command(commands: Any) -> None:
    models = commands.add_parser("models", help="list, download and verify neural model files",
                                 description="The neural engine's model files: list the catalogue, download, verify.",
                                 epilog=EXIT_CODES_HELP)
    models.add_argument("action", choices=["list", "download", "verify"], help="what to do")
    models.add_argument("names", nargs="*", metavar="NAME", help="models to download (see `models list`)")
    models.add_argument("--all-defaults", action="store_true", help="download the default set of models")
    models.add_argument("--models-dir", default=None,
                        help="folder of model files (default: $FACEFUSION_MODELS_DIR or models/ in the project)")
    models.add_argument("--log-level", default="info", choices=["error", "warn", "info", "debug"],
                        help="how much to print (default: info)")


def _models(args: argparse.Namespace) -> int:
    from .inference.catalogue import CATALOGUE, DEFAULTS, with_companions
    from .inference.download import download, model_path, models_dir, verify

    folder = models_dir(args.models_dir)
    if args.action == "list":
        print(f"{'name':<32}{'role':<20}{'file':<30}{'size':>9}  {'present':<8} licence")
        for entry in CATALOGUE:
            path = model_path(entry, folder)
            size = f"{path.stat().st_size / 1e6:.1f} MB" if path.is_file() else (
                f"{entry.size / 1e6:.1f} MB" if entry.size else "?")
            print(f"{entry.name:<32}{entry.role:<20}{entry.file:<30}{size:>9}  {'yes' if path.is_file() else 'no':<8} "
                  f"{entry.licence_label}")
        from .inference.embedded import EMBEDDED, LICENCE, is_available

        for model in EMBEDDED:
            present = "embedded" if is_available(model) else "no"
            print(f"{model.name:<32}{'frame_enhancer':<20}{model.network + ' (x' + str(model.scale) + ')':<30}"
                  f"{'':>9}  {present:<8} {LICENCE}; {model.note}")
        print(f"models folder: {folder} (embedded models need no download; they are converted into "
              f"{folder / 'embedded'} on first use)")
        return EXIT_OK
    if args.action == "verify":
        states = [verify(entry, folder) for entry in CATALOGUE]
        for state in states:
            if state.state != "missing":
                print(f"{state.entry.file:<32}{state.state}")
        corrupt = [state.entry.file for state in states if state.state == "corrupt"]
        if corrupt:
            raise InvalidInputError(f"corrupt model file(s): {', '.join(corrupt)}; download them again")
        print(f"{sum(state.state == 'ok' for state in states)} verified, "
              f"{sum(state.state == 'unverified' for state in states)} without a recorded checksum, in {folder}")
        return EXIT_OK
    names = list(args.names) + (list(DEFAULTS) if args.all_defaults else [])
    if not names:
        raise InvalidInputError("name the models to download, or give --all-defaults")
    from tqdm import tqdm

    for entry in with_companions(names):
        with tqdm(desc=entry.file, unit="B", unit_scale=True, file=sys.stderr, disable=None) as bar:
            def progress(done: int, total: int | None) -> None:
                if total and bar.total != total:
                    bar.total = total
                bar.update(done - bar.n)
            path = download(entry, folder, progress=progress)
        logger.info("%s ready (%s)", path, entry.licence_label)
    return EXIT_OK


def _options_from_args(args: argparse.Namespace) -> Options:
    return make_options(**{name: getattr(args, name) for name in option_specs()})


def _run_settings(args: argparse.Namespace) -> Options:
    """Options from the flags, with the settings every processing command shares checked and applied."""
    options = _options_from_args(args)
    if args.models_dir:
        os.environ["FACEFUSION_MODELS_DIR"] = args.models_dir  # read where models are resolved
    if args.video_segment_frames < 1:
        raise InvalidInputError("--video-segment-frames: give 1 or more")
    return options


class _ProgressBar:
    """A tqdm bar for video runs and a one-line summary for each finished run."""

    def __init__(self) -> None:
        self._bar: Any = None

    def show(self, event: object, label: str = "") -> None:
        from tqdm import tqdm

        from .pipeline import Progress, RunResult

        if isinstance(event, Progress) and event.total > 1:
            if self._bar is None:
                self._bar = tqdm(total=event.total, initial=event.frame - 1, unit="frame", file=sys.stderr,
                                 dynamic_ncols=True, disable=None, desc=label or None)
            self._bar.update(event.frame - self._bar.n)
        elif isinstance(event, RunResult):
            self.close()
            logger.info("%swrote %s: %s", label + " " if label else "", event.output_path, event.summary())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _headless_run(args: argparse.Namespace) -> int:
    from .pipeline import Job, run

    options = _run_settings(args)
    job = Job(sources=tuple(args.source_paths), target=args.target_path, output=args.output_path,
              face_map=tuple(args.face_map), reference_face_path=args.reference_face_path, resume=args.resume,
              segment_frames=args.video_segment_frames, safety=policy_from_args(args))
    bar = _ProgressBar()
    try:
        for event in run(job, options):
            bar.show(event)
    finally:
        bar.close()
    _remind_consent(options)
    return EXIT_OK


def _batch_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .batch import BatchItem, expand_batch, run_batch
    from .processors import MISSING_SOURCE, needs_source

    options = _run_settings(args)
    if needs_source(options.processors) and not args.source_pattern:
        raise InvalidInputError(f"batch-run: {MISSING_SOURCE} (-s/--source-pattern)")
    items = expand_batch(args.source_pattern, args.target_pattern, args.output_pattern)
    failed: list[BatchItem] = []
    refused: list[BatchItem] = []
    bar = _ProgressBar()
    try:
        for item, event in run_batch(items, options, reference_face_path=args.reference_face_path,
                                     resume=args.resume, segment_frames=args.video_segment_frames,
                                     safety=policy_from_args(args)):
            label = f"[{item.index + 1}/{len(items)}]"
            if isinstance(event, StudioError):
                bar.close()
                logger.error("%s %s: %s", label, Path(item.target).name, event.message)
                (refused if isinstance(event, RefusedError) else failed).append(item)
            else:
                bar.show(event, label)
    finally:
        bar.close()
    names = {"failed": failed, "refused": refused}
    logger.info("batch done: %d of %d run(s) written%s", len(items) - len(failed) - len(refused), len(items),
                "".join(f"; {what}: {', '.join(Path(item.target).name for item in which)}"
                        for what, which in names.items() if which))
    _remind_consent(options)
    # A refusal is the stronger news: a script must tell a safety check from a bad file.
    return EXIT_REFUSED if refused else EXIT_FAILURE if failed else EXIT_OK


def _remind_consent(options: Options) -> None:
    """One line, never a prompt (scripts must run), under the report of a run that swapped faces (a run that
    failed already printed its one line)."""
    if "face_swapper" in options.processors:
        logger.info("reminder: use only the faces of people who have agreed to it, and say that the result is "
                    "AI-generated when you share it")


def _configure_logging(level: str) -> None:
    names = {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
    if level != "debug":
        quiet_native_logs()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(names[level])
    logger.propagate = False


def _inspect(args: argparse.Namespace) -> int:
    import json

    from .safety.inspect import inspect_file

    inspection = inspect_file(args.file)
    print(json.dumps(inspection.as_json(), indent=2) if args.json else "\n".join(inspection.report()))
    return EXIT_OK if inspection.marked else EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["ui"]:
        return _ui(arguments[1:])
    if arguments and arguments[0].startswith("-") and arguments[0] not in ("-h", "--help", "-v", "--version"):
        # FaceFusion's container command names no subcommand: `IMAGE -s SRC -t TARGET -o OUT --execution-provider …`
        arguments.insert(0, "headless-run")
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    _configure_logging(getattr(args, "log_level", "info"))
    try:
        if args.command == "system":
            from .system import report

            print("\n".join(report()))
            return EXIT_OK
        if args.command == "batch-run":
            return _batch_run(args)
        if args.command == "inspect":
            return _inspect(args)
        if args.command == "serve":
            return _serve(args)
        return _models(args) if args.command == "models" else _headless_run(args)
    except StudioError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("stopped by the user", file=sys.stderr)
        return EXIT_STOPPED
    except BrokenPipeError:  # the reader of our output went away (e.g. `| head`): nothing more to say
        return EXIT_OK
    except OSError as error:  # the disk or file system, where no step said so itself
        logger.debug("operating-system error", exc_info=True)
        print(f"error: {storage_error(error).message}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:  # a last guard: one line for people, the trace with --log-level debug
        logger.debug("unexpected error", exc_info=True)
        print(f"error: unexpected failure ({type(error).__name__}: {error}); run again with --log-level debug "
              "and report it", file=sys.stderr)
        return EXIT_FAILURE


def entry_point() -> None:
    sys.exit(main())

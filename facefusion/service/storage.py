"""Where a job's files live: its uploaded inputs and its result.

The embedded default is a local folder (``--storage DIR``): ``DIR/JOB/inputs/…`` and ``DIR/JOB/output.EXT``;
the API serves the result itself at ``/v1/jobs/JOB/result``. Several API processes can share it only as one
folder (one machine, or a shared file system). With ``--storage s3://BUCKET/PREFIX`` the inputs and the
result go to object storage (results handed out as presigned URLs), and each process works in a local
folder of its own: a job accepted by one process can run in another, on another machine, which fetches
the inputs first.
"""
from __future__ import annotations

import logging
import re
import shutil
import threading
from pathlib import Path
from typing import Protocol

from ..errors import InvalidInputError
from ..parts import parts_folder

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
logger = logging.getLogger("facefusion")
NO_OBJECTS = "target_url/source_urls need object storage (--storage s3://BUCKET/PREFIX); upload the files instead"


MAX_NAME = 100
JOB_FOLDER = re.compile(r"[0-9a-f]{32}")


def safe_name(name: str, fallback: str) -> str:
    """A caller's file name reduced to letters, digits, dot, dash and underscore (never a path), at most
    MAX_NAME characters with its extension kept (the extension says what the file is)."""
    cleaned = SAFE_NAME.sub("_", Path(name or "").name).strip("._")
    stem, dot, suffix = cleaned.rpartition(".")
    if len(cleaned) > MAX_NAME:
        cleaned = f"{stem[:MAX_NAME - len(suffix) - 1]}.{suffix[:16]}" if dot and stem else cleaned[:MAX_NAME]
    return cleaned or fallback


class JobFolders:
    """The job folders of this machine's local folder: ``ROOT/JOB/inputs/…`` and ``ROOT/JOB/output.EXT``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    def input_path(self, job_id: str, index: int, name: str) -> Path:
        """A fresh path for one upload (numbered, so two sources of the same name stay apart)."""
        folder = self.folder(job_id) / "inputs"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{index:02d}-{safe_name(name, 'upload')}"

    def output_path(self, job_id: str, suffix: str) -> Path:
        self.folder(job_id).mkdir(parents=True, exist_ok=True)
        return self.folder(job_id) / f"output{suffix}"

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def job_folders(self) -> list[Path]:
        try:
            return [path for path in self.root.iterdir() if path.is_dir() and JOB_FOLDER.fullmatch(path.name)]
        except FileNotFoundError:
            return []


class Storage(Protocol):
    """Where the service keeps a job's files; ``LocalStorage`` and ``S3Storage`` each provide all of it."""

    folders: JobFolders
    """This machine's job folders, where a job's files are while it runs."""

    def remove(self, job_id: str) -> None:
        """A refused or repeated request: the files it brought go."""

    def purge(self, job_id: str) -> None:
        """Delete a finished job's files: its inputs and its result."""

    def publish(self, job_id: str, output: Path) -> str | None:
        """Make the finished result available; returns an object key (None: it stays in the job's folder)."""

    def keep_inputs(self, job_id: str, paths: list[Path], objects: list[str | None]) -> list[str]:
        """Make an accepted job's inputs reachable from every server; returns their object keys."""

    def localise(self, job_id: str, request: dict) -> dict:
        """The job's request with its inputs and output in this machine's folder."""

    def release(self, job_id: str) -> None:
        """A job ended: its local work files may go."""

    def keep_parts(self, job_id: str, folder: Path) -> None:
        """Make a running video's finished segments reachable from every server."""

    def url_of(self, key: str) -> str:
        """Where a caller downloads the object ``key``."""

    def job_of(self, key: str) -> str | None:
        """The job an object key belongs to (None: not a job's object)."""

    def object_size(self, key: str) -> int:
        """Bytes of an object, read before it is fetched."""

    def fetch(self, url: str, destination: Path) -> Path:
        """Download an object named by URL or key to ``destination``."""

    def object_key(self, url: str) -> str:
        """The key of an object named by URL or key (of this storage's bucket only)."""

    def check(self) -> None:
        """Reach the storage once at start-up: a wrong setting is said before any job."""


class LocalStorage:
    """Everything in one local folder: the API serves results itself; servers share only the folder."""

    def __init__(self, root: Path) -> None:
        self.folders = JobFolders(root)

    def remove(self, job_id: str) -> None:
        self.folders.remove(job_id)

    def purge(self, job_id: str) -> None:
        self.folders.remove(job_id)

    def publish(self, job_id: str, output: Path) -> str | None:
        return None  # the result stays in the job's folder

    def keep_inputs(self, job_id: str, paths: list[Path], objects: list[str | None]) -> list[str]:
        return []  # the folder itself is what the servers share

    def localise(self, job_id: str, request: dict) -> dict:
        return request  # as accepted, here

    def release(self, job_id: str) -> None:
        """Here the job's files are its stored result: they stay."""

    def keep_parts(self, job_id: str, folder: Path) -> None:
        """The folder is shared already."""

    def url_of(self, key: str) -> str:
        raise NotImplementedError("a local folder's results are served by the API itself")

    def job_of(self, key: str) -> str | None:
        return None

    def object_size(self, key: str) -> int:
        raise InvalidInputError(NO_OBJECTS)

    def fetch(self, url: str, destination: Path) -> Path:
        raise InvalidInputError(NO_OBJECTS)

    def object_key(self, url: str) -> str:
        raise InvalidInputError(NO_OBJECTS)

    def check(self) -> None:
        """Nothing to reach: the folder exists."""


class S3Objects:
    """One bucket (and key prefix) of S3-compatible object storage, as the service uses it."""

    def __init__(self, url: str, endpoint: str | None, expiry: int, region: str | None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = parse_s3_url(url)
        self.expiry = expiry
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name=region or "us-east-1",
                                   config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                                 retries={"max_attempts": 3}))

    def key(self, job_id: str, name: str) -> str:
        return "/".join(part for part in (self.prefix, job_id, name) if part)

    def upload(self, path: Path, key: str) -> None:
        self.client.upload_file(str(path), self.bucket, key)

    def download(self, key: str, path: Path) -> None:
        self.client.download_file(self.bucket, key, str(path))

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def delete(self, prefix: str) -> None:
        for key in self.keys(prefix):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def url_of(self, key: str) -> str:
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                  ExpiresIn=self.expiry)

    def fetch(self, url: str, destination: Path) -> Path:
        """Download ``s3://BUCKET/KEY`` (or a key of this bucket) to ``destination``."""
        from botocore.exceptions import ClientError

        key = self.object_key(url)
        try:
            self.download(key, destination)
        except ClientError as error:
            raise InvalidInputError(f"{url}: cannot be read from the storage "
                                    f"({error.response.get('Error', {}).get('Code', 'error')})") from None
        return destination

    def job_of(self, key: str) -> str | None:
        """The job of ``PREFIX/JOB/…`` (None for an object outside the service's own keys)."""
        own = f"{self.prefix}/" if self.prefix else ""
        if not key.startswith(own):
            return None
        job_id = key[len(own):].split("/", 1)[0]
        return job_id if JOB_FOLDER.fullmatch(job_id) else None

    def object_size(self, key: str) -> int:
        """Bytes of an object, read before it is fetched (so it counts against the caller's limit)."""
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as error:
            raise InvalidInputError(f"{key.rsplit('/', 1)[-1]}: cannot be read from the storage "
                                    f"({error.response.get('Error', {}).get('Code', 'error')})") from None

    def object_key(self, url: str) -> str:
        """The key of ``s3://BUCKET/KEY`` or of a bare key, in this bucket (no other is used)."""
        bucket, key = parse_s3_url(url) if url.startswith("s3://") else (self.bucket, url.lstrip("/"))
        if bucket != self.bucket:
            raise InvalidInputError(f"{url}: only objects of this service's bucket ({self.bucket}) can be used")
        return key

    def check(self) -> None:
        """Reach the bucket once at start-up: a wrong endpoint, key or bucket is said before any job."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as error:
            raise InvalidInputError(f"--storage s3://{self.bucket}: the bucket cannot be reached ({error})") from None


class S3Storage:
    """Inputs and results in S3-compatible object storage; the work happens in a local folder.

    ``s3://BUCKET/PREFIX``: a job's result is uploaded to ``PREFIX/JOB/output.EXT`` and handed out as a
    presigned GET URL that expires after ``expiry`` seconds (made anew at each request). Credentials come
    the way boto3 finds them (``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, a profile, a role).
    """

    def __init__(self, url: str, work: Path, endpoint: str | None = None, expiry: int = 86400,
                 region: str | None = None) -> None:
        self.folders = JobFolders(work)
        self.objects = S3Objects(url, endpoint, expiry, region)
        self._kept: dict[str, dict[str, tuple[int, int]]] = {}
        """Per running job: the parts already uploaded, by name, with the size and time they had."""
        self._lock = threading.Lock()

    def keep_inputs(self, job_id: str, paths: list[Path], objects: list[str | None]) -> list[str]:
        """Upload the inputs that came as files (those given by URL are objects already); their keys."""
        keys = []
        for path, key in zip(paths, objects):
            if key is None:
                key = self.objects.key(job_id, f"inputs/{path.name}")
                self.objects.upload(path, key)
            keys.append(key)
        return keys

    def localise(self, job_id: str, request: dict) -> dict:
        """Inputs the accepting process left on another machine are fetched from their objects; the output
        goes to this process's work folder."""
        keys = request.get("input_objects")
        if not keys or Path(request["target"]).resolve().is_relative_to(self.folders.root.resolve()):
            return request  # accepted by a process working in this folder: everything is in place
        logger.info("job %s was accepted by another server: its inputs are fetched from the storage", job_id)
        paths = []
        for accepted, key in zip([request["target"], *request["sources"]], keys):
            path = self.folders.folder(job_id) / "inputs" / Path(accepted).name
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(path.name + ".partial")
                self.objects.fetch(key, partial)
                partial.replace(path)
            paths.append(str(path))
        output = self.folders.output_path(job_id, Path(request["output"]).suffix)
        self._fetch_parts(job_id, parts_folder(output))
        return {**request, "target": paths[0], "sources": paths[1:], "output": str(output)}

    def keep_parts(self, job_id: str, folder: Path) -> None:
        """Upload the segments finished since the last call (a segment with its record, the record last), so
        that a server taking the job over after this one died continues from them."""
        if not folder.is_dir():
            return
        with self._lock:
            kept = self._kept.setdefault(job_id, {})
        records = sorted(folder.glob("segment_*.json"))
        wanted = [folder / "state.json", *[record.with_suffix(".mkv") for record in records], *records]
        for path in wanted:
            try:
                status = path.stat()
            except FileNotFoundError:  # the run cleared its folder meanwhile
                continue
            stamp = (status.st_size, status.st_mtime_ns)
            if kept.get(path.name) != stamp:
                self.objects.upload(path, self.objects.key(job_id, f"parts/{path.name}"))
                kept[path.name] = stamp

    def _fetch_parts(self, job_id: str, folder: Path) -> None:
        """The parts another server uploaded for this job, into this server's parts folder (once)."""
        if folder.exists():
            return
        keys = self.objects.keys(self.objects.key(job_id, "parts/"))
        if not keys:
            return
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for key in keys:
            self.objects.download(key, partial / key.rsplit("/", 1)[-1])
        partial.rename(folder)
        with self._lock:  # in the bucket already: not uploaded again
            self._kept[job_id] = {path.name: (path.stat().st_size, path.stat().st_mtime_ns)
                                  for path in folder.iterdir()}
        logger.info("job %s: %d part file(s) of another server fetched; the video continues from them",
                    job_id, len(keys))

    def release(self, job_id: str) -> None:
        """The inputs are kept as objects and the result was uploaded: the local work folder and the parts
        kept for another server go."""
        self.folders.remove(job_id)
        with self._lock:
            self._kept.pop(job_id, None)
        self.objects.delete(self.objects.key(job_id, "parts/"))

    def remove(self, job_id: str) -> None:
        """A refused or repeated request: its local files and the inputs it uploaded go."""
        self.folders.remove(job_id)
        self.objects.delete(self.objects.key(job_id, "inputs/"))

    def purge(self, job_id: str) -> None:
        """The local folder and every object of the job (inputs, result, parts); objects a caller named by
        URL are the caller's and stay."""
        self.folders.remove(job_id)
        self.objects.delete(self.objects.key(job_id, "") + "/")

    def publish(self, job_id: str, output: Path) -> str:
        """Upload the result; returns its object key (the local copy is removed)."""
        key = self.objects.key(job_id, output.name)
        self.objects.upload(output, key)
        output.unlink(missing_ok=True)
        return key

    def url_of(self, key: str) -> str:
        return self.objects.url_of(key)

    def job_of(self, key: str) -> str | None:
        return self.objects.job_of(key)

    def object_size(self, key: str) -> int:
        return self.objects.object_size(key)

    def fetch(self, url: str, destination: Path) -> Path:
        return self.objects.fetch(url, destination)

    def object_key(self, url: str) -> str:
        return self.objects.object_key(url)

    def check(self) -> None:
        self.objects.check()


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix or key) of ``s3://BUCKET/PATH``."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise InvalidInputError(f"'{url}' is not s3://BUCKET/PREFIX")
    bucket, _, path = url[5:].partition("/")
    return bucket, path.strip("/")

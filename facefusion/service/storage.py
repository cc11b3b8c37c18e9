"""Where a job's files live: its uploaded inputs and its result.

The embedded default is a local folder (``--storage DIR``): ``DIR/JOB/inputs/…`` and ``DIR/JOB/output.EXT``;
the API serves the result itself at ``/v1/jobs/JOB/result``. With ``--storage s3://BUCKET/PREFIX`` results
go to object storage and are handed out as presigned URLs.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..errors import InvalidInputError

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str, fallback: str) -> str:
    """A caller's file name reduced to letters, digits, dot, dash and underscore (never a path)."""
    cleaned = SAFE_NAME.sub("_", Path(name or "").name).strip("._")
    return cleaned[:100] or fallback


class LocalStorage:
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

    def publish(self, job_id: str, output: Path) -> str | None:
        """Make the finished result available; returns an object key (None: it stays in this folder)."""
        return None

    def url_of(self, key: str) -> str:
        raise NotImplementedError("a local folder's results are served by the API itself")

    def fetch(self, url: str, destination: Path) -> Path:
        raise InvalidInputError("target_url/source_urls need object storage (--storage s3://BUCKET/PREFIX); "
                                "upload the files instead")

    def check(self) -> None:
        """Nothing to reach: the folder exists."""


class S3Storage(LocalStorage):
    """Results (and inputs given by URL) in S3-compatible object storage; the work happens in a local folder.

    ``s3://BUCKET/PREFIX``: a job's result is uploaded to ``PREFIX/JOB/output.EXT`` and handed out as a
    presigned GET URL that expires after ``expiry`` seconds (made anew at each request). Credentials come
    the way boto3 finds them (``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, a profile, a role).
    """

    def __init__(self, url: str, work: Path, endpoint: str | None = None, expiry: int = 86400,
                 region: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        super().__init__(work)
        self.bucket, self.prefix = parse_s3_url(url)
        self.expiry = expiry
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name=region or "us-east-1",
                                   config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                                 retries={"max_attempts": 3}))

    def key(self, job_id: str, name: str) -> str:
        return "/".join(part for part in (self.prefix, job_id, name) if part)

    def publish(self, job_id: str, output: Path) -> str:
        """Upload the result; returns its object key (the local copy is removed)."""
        key = self.key(job_id, output.name)
        self.client.upload_file(str(output), self.bucket, key)
        output.unlink(missing_ok=True)
        return key

    def url_of(self, key: str) -> str:
        return self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                  ExpiresIn=self.expiry)

    def fetch(self, url: str, destination: Path) -> Path:
        """Download ``s3://BUCKET/KEY`` (or a key of this storage's bucket) to ``destination``."""
        from botocore.exceptions import ClientError

        bucket, key = parse_s3_url(url) if url.startswith("s3://") else (self.bucket, url.lstrip("/"))
        if bucket != self.bucket:
            raise InvalidInputError(f"{url}: only objects of this service's bucket ({self.bucket}) can be used")
        try:
            self.client.download_file(bucket, key, str(destination))
        except ClientError as error:
            raise InvalidInputError(f"{url}: cannot be read from the storage "
                                    f"({error.response.get('Error', {}).get('Code', 'error')})") from None
        return destination

    def check(self) -> None:
        """Reach the bucket once at start-up: a wrong endpoint, key or bucket is said before any job."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as error:
            raise InvalidInputError(f"--storage s3://{self.bucket}: the bucket cannot be reached ({error})") from None


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix or key) of ``s3://BUCKET/PATH``."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise InvalidInputError(f"'{url}' is not s3://BUCKET/PREFIX")
    bucket, _, path = url[5:].partition("/")
    return bucket, path.strip("/")

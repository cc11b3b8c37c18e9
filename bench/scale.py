"""Scale-out benchmark: a 20 s 720p clip on a local Ray cluster with one and with two actors.

Run: ``.venv/bin/python bench/scale.py`` (needs ``make cluster``). In one run it measures, on the same
generated clip (1280x720, 30 fps, one face): plain decode + encode (the floor), the single-process pipeline,
the same segments rendered one after another in this process (``render_segment``, no Ray), and the job on
the cluster with 1 and with 2 actors. Prints seconds, frames per second, the 2-actor/1-actor throughput
ratio and Ray's overhead per segment (1 actor minus the in-process segments, per segment).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def plain_copy(clip: Path, output: Path) -> float:
    from facefusion.media.video import EncoderSettings, SegmentWriter, probe_video, read_frames

    info = probe_video(clip)
    start = time.perf_counter()
    rate = Fraction(round(info.fps * 1000), 1000)
    writer = SegmentWriter(output, info.width, info.height, info.time_base, rate, EncoderSettings())
    for frame in read_frames(info):
        writer.write(frame.image, info.frame_pts[frame.index])
    writer.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--segment-frames", type=int, default=60)
    args = parser.parse_args()

    from facefusion import Options
    from facefusion.api import Studio
    from facefusion.media.opencv_threads import single_threaded_opencv
    from facefusion.pipeline import Job, RunResult, run_to_end
    from facefusion.video_job import render_segment
    from facefusion.video_plan import plan_video, video_layout
    from ray_cluster import ray_cluster
    from sample_media import grace_hopper, make_clip

    frames = int(args.seconds * 30)
    options = Options(face_selector_mode="many")
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        clip = make_clip(folder / "clip.mp4", frames=frames, size=(1280, 720))
        job = Job(sources=(str(grace_hopper()),), target=str(clip), output=str(folder / "out.mp4"),
                  segment_frames=args.segment_frames, resume=False)
        segments = (frames + args.segment_frames - 1) // args.segment_frames
        print(f"1280x720 generated clip, {frames} frames ({args.seconds:g} s), {segments} segments of "
              f"{args.segment_frames}, this machine ({os.cpu_count()} cores)")
        rows: dict[str, float] = {"plain decode + encode": plain_copy(clip, folder / "plain.mkv")}
        start = time.perf_counter()
        run_to_end(job, options)
        rows["pipeline, one process"] = time.perf_counter() - start
        with Studio(options) as studio, single_threaded_opencv():
            video = plan_video(studio, job, video_layout(job, options))
            start = time.perf_counter()
            for number in range(segments):
                render_segment(studio, video, job, number, folder / f"segment_{number}.mkv", None)
            rows["segments in this process"] = time.perf_counter() - start
        with ray_cluster(folder / "ray") as cluster:
            os.environ.update(cluster.environment)
            import ray

            from facefusion.workers.ray_pool import RayPool

            for actors in (1, 2):
                pool = RayPool(cluster.address, actors=actors)
                warm = Job(sources=job.sources, target=job.target, output=str(folder / "warm.mp4"),
                           segment_frames=args.segment_frames, resume=False)
                for _ in pool.run(warm, options.replace(trim_frame_end=actors * args.segment_frames)):
                    pass  # each actor loads its models once, as a long-lived worker has
                start = time.perf_counter()
                for event in pool.run(job, options):
                    if isinstance(event, RunResult):
                        rows[f"Ray, {actors} actor(s)"] = time.perf_counter() - start
                pool.close()
            ray.shutdown()
        for name, seconds in rows.items():
            print(f"  {name:<28} {seconds:8.2f} s   {frames / seconds:6.1f} frames/s")
        one, two = rows["Ray, 1 actor(s)"], rows["Ray, 2 actor(s)"]
        print(f"  2 actors / 1 actor throughput {one / two:6.2f} x")
        print(f"  Ray's overhead a segment      {(one - rows['segments in this process']) / segments * 1000:6.0f} ms "
              "(1 actor minus the same segments in this process)")


if __name__ == "__main__":
    main()

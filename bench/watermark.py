"""Watermark benchmark: what the invisible watermark costs a 720p video run, against the same run without it.

Run: ``.venv/bin/python bench/watermark.py``. Prints, for a generated 1280x720 clip (one face, 300 frames):
the marker alone (the still pattern added to each frame), the visible label alone,
and the whole pipeline with and without ``--output-watermark``, each in its own process, alternating,
with the median of the repeats; the difference is the watermark's share of the pipeline's time per frame.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))


def marker_alone(clip: Path) -> float:
    from facefusion.media.video import probe_video, read_frames
    from facefusion.safety.watermark import VideoMarker

    frames = [frame.image for frame in read_frames(probe_video(clip))]
    marker = VideoMarker(1)
    marker.planes(frames[0].shape)  # made once a run
    start = time.perf_counter()
    for frame in frames:
        marker.mark(frame)
    return (time.perf_counter() - start) / len(frames) * 1000


def label_alone(clip: Path) -> float:
    from facefusion.media.video import probe_video, read_frames
    from facefusion.safety.label import LabelPainter

    frames = [frame.image for frame in read_frames(probe_video(clip))]
    painter = LabelPainter("AI-generated")
    painter.draw(frames[0])  # the box is drawn once a run
    start = time.perf_counter()
    for frame in frames:
        painter.draw(frame)
    return (time.perf_counter() - start) / len(frames) * 1000


def pipeline(clip: str, output: str, watermark: bool) -> dict[str, float]:
    from facefusion.options import Options
    from facefusion.pipeline import Job, RunResult, run
    from sample_media import grace_hopper

    start = time.perf_counter()
    for event in run(Job(sources=(str(grace_hopper()),), target=clip, output=output, resume=False),
                     Options(face_selector_mode="many", output_watermark=watermark)):
        if isinstance(event, RunResult):
            return {"frames": event.frames, "seconds": time.perf_counter() - start}
    raise RuntimeError("the run gave no result")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(pipeline(args.child[0], args.child[1], args.child[2] == "on")))
        return
    from sample_media import make_clip

    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "clip.mp4", frames=300)
        print(f"1280x720 generated clip, 300 frames, this machine ({os.cpu_count()} cores)")
        alone = marker_alone(clip)
        print(f"  marker alone (one core)            {alone:8.2f} ms a frame")
        print(f"  visible label alone (one core)     {label_alone(clip):8.2f} ms a frame")
        times: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(args.repeats):
            for mode in ("off", "on"):
                completed = subprocess.run([sys.executable, __file__, "--child", str(clip),
                                            str(Path(folder) / f"out_{mode}.mp4"), mode],
                                           capture_output=True, text=True, check=True)
                figures = json.loads(completed.stdout.strip().splitlines()[-1])
                times[mode].append(figures["seconds"] / figures["frames"] * 1000)
        off, on = statistics.median(times["off"]), statistics.median(times["on"])
        print(f"  pipeline without the watermark     {off:8.2f} ms a frame (runs: {', '.join(f'{t:.1f}' for t in times['off'])})")
        print(f"  pipeline with the watermark        {on:8.2f} ms a frame (runs: {', '.join(f'{t:.1f}' for t in times['on'])})")
        print(f"  the watermark's share              {(on - off) / off * 100:8.1f} % of the pipeline's time a frame "
              "(whole runs: the noise between runs is of the same size)")
        print(f"  the marker's own share             {alone / off * 100:8.1f} % (marker alone / pipeline without)")


if __name__ == "__main__":
    main()

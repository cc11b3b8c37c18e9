"""Video benchmark: the swap pipeline against plain decode+encode of the same clip, and memory.

Run: ``.venv/bin/python bench/video.py`` (add ``--long-frames 0`` to skip the memory comparison).
Clips, each measured against its own plain transcode in this run and on this machine:
- a 1280x720 clip with one 220 px face and a soundtrack (from a photo an installed package ships);
- the same with a 400 px face (a close-up: the drawing must not slow down with the face's size);
- ``video_720p_woman_01.mp4`` from ../shared/testdata (a real 720p clip, a face of about 255 px), when it
  is there, and a close-up made from it: the middle of each frame enlarged 1.5 times back to 1280x720, so
  the face is about 385 px wide with the footage's own motion, noise and lighting (no audio).
For each: plain decode + encode (libx264, the pipeline's default settings: the floor any video tool
pays) and the full pipeline (decode, track, swap, encode, audio), end to end and in steady state.
Then peak memory (RSS) of the whole pipeline for the first clip and for one ten times longer.
Each measurement runs in its own process so memory figures do not mix.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))


def plain_transcode(clip: Path, output: Path) -> dict[str, float]:
    from facefusion.media.video import EncoderSettings, SegmentWriter, probe_video, read_frames

    info = probe_video(clip)
    start = time.perf_counter()
    # The floor is measured at its best: the encoder may use all its threads here.
    writer = SegmentWriter(output, info.width, info.height, info.time_base, Fraction(round(info.fps * 1000), 1000),
                           EncoderSettings(), threads=0)
    count = 0
    for frame in read_frames(info):
        writer.write(frame.image, info.frame_pts[frame.index])
        count += 1
    writer.close()
    return {"frames": count, "seconds": time.perf_counter() - start}


def pipeline(clip: Path, output: Path) -> dict[str, float]:
    from facefusion.options import Options
    from facefusion.pipeline import Job, Progress, RunResult, run
    from sample_media import grace_hopper

    start = time.perf_counter()
    steady_fps = 0.0
    result = None
    for event in run(Job(sources=(str(grace_hopper()),), target=str(clip), output=str(output), resume=False),
                     Options(face_selector_mode="many")):
        if isinstance(event, Progress):
            steady_fps = event.fps
        elif isinstance(event, RunResult):
            result = event
    seconds = time.perf_counter() - start
    return {"frames": result.frames, "seconds": seconds, "steady_fps": steady_fps,
            "swaps": result.faces_swapped, "failed": len(result.failed_frames)}


def child(mode: str, clip: str, output: str) -> None:
    figures = plain_transcode(Path(clip), Path(output)) if mode == "plain" else pipeline(Path(clip), Path(output))
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def measure(mode: str, clip: Path, output: Path) -> dict[str, float]:
    completed = subprocess.run([sys.executable, __file__, "--child", mode, str(clip), str(output)],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


SHARED_CLIP = ROOT.parent / "shared" / "testdata" / "video_720p_woman_01.mp4"
CLOSE_UP_WINDOW = (314, 30, 853, 480)
"""x, y, width, height of the window of SHARED_CLIP (around the face) enlarged to 1280x720."""


def close_up_clip(clip: Path, output: Path) -> Path:
    """``clip``'s window CLOSE_UP_WINDOW enlarged to the clip's size, as a new H.264 clip (CRF 18)."""
    import av
    import cv2

    x, y, width, height = CLOSE_UP_WINDOW
    with av.open(str(clip)) as source, av.open(str(output), "w") as target:
        decoded = source.streams.video[0]
        encoded = target.add_stream("libx264", rate=decoded.average_rate, options={"crf": "18", "preset": "veryfast"})
        encoded.width, encoded.height, encoded.pix_fmt = decoded.width, decoded.height, "yuv420p"
        for frame in source.decode(decoded):
            window = frame.to_ndarray(format="bgr24")[y:y + height, x:x + width]
            enlarged = cv2.resize(window, (decoded.width, decoded.height), interpolation=cv2.INTER_CUBIC)
            for packet in encoded.encode(av.VideoFrame.from_ndarray(enlarged, format="bgr24")):
                target.mux(packet)
        for packet in encoded.encode():
            target.mux(packet)
    return output


def compare(label: str, clip: Path, work: Path) -> dict[str, float]:
    plain = measure("plain", clip, work / "plain.mkv")
    swap = measure("swap", clip, work / "swap.mp4")
    plain_fps = plain["frames"] / plain["seconds"]
    swap_fps = swap["frames"] / swap["seconds"]
    print(f"{label}")
    print(f"  {'plain decode+encode (x264 threads)':<34}{plain_fps:>8.1f} fps")
    print(f"  {'swap pipeline, end to end':<34}{swap_fps:>8.1f} fps  (model loading included)")
    print(f"  {'swap pipeline, steady state':<34}{swap['steady_fps']:>8.1f} fps")
    print(f"  {'ratio end to end / plain':<34}{swap_fps / plain_fps:>8.2f}")
    print(f"  {'faces swapped':<34}{swap['swaps']:>8d}  of {swap['frames']} frames, {swap['failed']} failed")
    print(f"  {'peak memory':<34}{swap['peak_rss_mb']:>8.0f} MB", flush=True)
    return swap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150, help="frames of the generated clips (30 fps)")
    parser.add_argument("--long-frames", type=int, default=1500, help="frames of the long clip (0: skip)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from sample_media import make_clip

    print(f"libx264 veryfast, this machine ({os.cpu_count()} cores), each clip against its own plain transcode")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        short = make_clip(work / "short.mp4", frames=args.frames)
        first = compare(f"1280x720, one 220 px face, {args.frames} frames", short, work)
        close_up = make_clip(work / "close_up.mp4", frames=args.frames, face_width=400)
        compare(f"1280x720, one 400 px face, {args.frames} frames", close_up, work)
        if SHARED_CLIP.is_file():
            compare(f"{SHARED_CLIP.name} (1280x720, real footage, 282 frames)", SHARED_CLIP, work)
            close_up = close_up_clip(SHARED_CLIP, work / "real_close_up.mp4")
            compare("the same footage enlarged 1.5x (a 385 px face, 282 frames)", close_up, work)
        if args.long_frames:
            long = make_clip(work / "long.mp4", frames=args.long_frames)
            long_swap = measure("swap", long, work / "long_swap.mp4")
            growth = long_swap["peak_rss_mb"] / first["peak_rss_mb"] - 1
            print(f"{'peak memory, clip x' + str(args.long_frames // args.frames):<34}{long_swap['peak_rss_mb']:>8.0f} MB"
                  f"  ({growth * 100:+.1f} % over the first clip)")
            print(f"{'swap pipeline, long clip':<34}{long_swap['frames'] / long_swap['seconds']:>8.1f} fps")


if __name__ == "__main__":
    main()

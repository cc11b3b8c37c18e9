"""Video watermark robustness: the share of random ids read back after an H.264 re-encode, per clip and size.

Run: ``.venv/bin/python bench/watermark_robustness.py [--ids N] [--crf 28] [--sides native 480]``. For each
clip of ``../shared/testdata`` (or the clips given), at its own size and scaled so its short side is 480 px,
it marks the clip with N random ids, re-encodes it with libx264 at the CRF given (preset veryfast, as a
platform's transcoder would), reads it back the way ``facefusion inspect`` does (24 frames spread over the
clip) and prints how many ids came back whole, how many were only found marked, and the weakest confidence.
Baseline in the same run: the unmarked clips, which must read as unmarked.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from facefusion.safety import watermark  # noqa: E402
from facefusion.safety.inspect import VIDEO_SAMPLES  # noqa: E402

SHARED = ROOT.parent / "shared" / "testdata"


def frames_of(path: Path, side: int | None, limit: int) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as container:
        rate = float(container.streams.video[0].average_rate or 30)
        frames = []
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="bgr24")
            if side is not None and min(image.shape[:2]) != side:
                scale = side / min(image.shape[:2])
                size = (round(image.shape[1] * scale / 2) * 2, round(image.shape[0] * scale / 2) * 2)
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            frames.append(image)
            if len(frames) >= limit:
                break
    return frames, rate


def encode(path: Path, frames: list[np.ndarray], rate: float, crf: int) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=round(rate), options={"crf": str(crf), "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())


def read_back(path: Path) -> watermark.MarkReading:
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    wanted = set(np.linspace(0, len(decoded) - 1, min(VIDEO_SAMPLES, len(decoded))).round().astype(int))
    return watermark.read_pattern([frame for index, frame in enumerate(decoded) if index in wanted])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--ids", type=int, default=6)
    parser.add_argument("--crf", type=int, default=28)
    parser.add_argument("--frames", type=int, default=300, help="frames of each clip used (default: 300)")
    parser.add_argument("--sides", nargs="+", default=["native", "480"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    clips = args.clips or sorted(SHARED.glob("*.mp4"))
    rng = np.random.default_rng(args.seed)
    totals = [0, 0, 0]
    with tempfile.TemporaryDirectory() as folder:
        for clip in clips:
            for side_name in args.sides:
                side = None if side_name == "native" else int(side_name)
                frames, rate = frames_of(clip, side, args.frames)
                encoded = Path(folder) / "plain.mp4"
                encode(encoded, frames, rate, args.crf)
                plain = read_back(encoded)
                whole = found = 0
                weakest = 1.0
                psnr = []
                started = time.perf_counter()
                for _ in range(args.ids):
                    output_id = int(rng.integers(0, 1 << watermark.ID_BITS))
                    marker = watermark.VideoMarker(output_id)
                    marked = [marker.mark(frame) for frame in frames]
                    psnr.append(cv2.PSNR(frames[0], marked[0]))
                    encode(encoded, marked, rate, args.crf)
                    reading = read_back(encoded)
                    whole += reading.output_id == output_id
                    found += reading.marked
                    weakest = min(weakest, reading.confidence)
                totals[0] += whole
                totals[1] += found
                totals[2] += args.ids
                print(f"{clip.name:32s} {frames[0].shape[1]:5d}x{frames[0].shape[0]:<5d} CRF {args.crf}: "
                      f"{whole}/{args.ids} ids whole, {found}/{args.ids} marked, weakest {weakest:.0%} of bits, "
                      f"PSNR {np.mean(psnr):.1f} dB; unmarked reads as marked: {plain.marked} "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"all: {totals[0]}/{totals[2]} ids whole, {totals[1]}/{totals[2]} marked")


if __name__ == "__main__":
    main()

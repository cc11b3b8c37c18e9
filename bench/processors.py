"""The processors that need no download, on video: frames a second of a whole `headless-run` (start, decode, track,
draw, encode, audio) against plain decode + encode of the same frames, measured in the same run.

    .venv/bin/python bench/processors.py [--frames 150]

Clips: ``video_720p_woman_01.mp4`` from ../shared/testdata when it is there (else a 720p clip made from an installed
photo), and the same enlarged to 1080p. Runs: the embedded face swapper (for scale), the embedded face editor
(a smile), the embedded background remover, and the editor and remover together.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import av  # noqa: E402
import cv2  # noqa: E402

from sample_media import grace_hopper, make_clip  # noqa: E402

SHARED = Path(os.environ.get("FACEFUSION_TESTDATA", ROOT.parent / "shared" / "testdata"))
RUNS = {
    "face_swapper (landmark)": ["-s", str(grace_hopper()), "--processors", "face_swapper"],
    "face_editor (smile 0.8)": ["--processors", "face_editor", "--face-editor-mouth-smile", "0.8"],
    "background_remover": ["--processors", "background_remover", "--background-remover-fill-color", "0", "90", "200"],
    "editor + remover": ["--processors", "face_editor", "background_remover", "--face-editor-mouth-smile", "0.8",
                         "--background-remover-fill-color", "0", "90", "200"],
}


def clip_frames(source: Path, frames: int, size: tuple[int, int] | None, output: Path) -> Path:
    """The first ``frames`` frames of ``source`` (resized to ``size`` when given), video only, as H.264."""
    with av.open(str(source)) as reader, av.open(str(output), "w") as writer:
        stream = writer.add_stream("libx264", rate=30)
        first = True
        for index, frame in enumerate(reader.decode(video=0)):
            if index >= frames:
                break
            image = frame.to_ndarray(format="bgr24")
            if size is not None:
                image = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
            if first:
                stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
                first = False
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                writer.mux(packet)
        for packet in stream.encode():
            writer.mux(packet)
    return output


def plain_transcode(clip: Path, output: Path) -> float:
    """Seconds to decode and encode every frame (libx264, the pipeline's default preset): the floor."""
    start = time.perf_counter()
    with av.open(str(clip)) as reader, av.open(str(output), "w") as writer:
        stream = writer.add_stream("libx264", rate=30, options={"preset": "veryfast", "crf": "10"})
        source = reader.streams.video[0]
        stream.width, stream.height, stream.pix_fmt = source.width, source.height, "yuv420p"
        for frame in reader.decode(video=0):
            for packet in stream.encode(frame):
                writer.mux(packet)
        for packet in stream.encode():
            writer.mux(packet)
    return time.perf_counter() - start


def pipeline(clip: Path, output: Path, flags: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "facefusion", "headless-run", "-t", str(clip), "-o", str(output),
                             "--face-selector-mode", "many", *flags], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        real = SHARED / "video_720p_woman_01.mp4"
        source = real if real.is_file() else make_clip(work / "made.mp4", frames=args.frames, size=(1280, 720),
                                                       face_width=260)
        clips = {"1280x720": clip_frames(source, args.frames, None, work / "720.mp4"),
                 "1920x1080": clip_frames(source, args.frames, (1920, 1080), work / "1080.mp4")}
        print(f"{'clip':<10} {'run':<26} {'seconds':>8} {'fps':>6} {'x plain':>8}")
        for name, clip in clips.items():
            plain = plain_transcode(clip, work / "plain.mp4")
            print(f"{name:<10} {'plain decode + encode':<26} {plain:8.1f} {args.frames / plain:6.1f} {1.0:8.1f}")
            for run, flags in RUNS.items():
                seconds = pipeline(clip, work / "out.mp4", flags)
                print(f"{name:<10} {run:<26} {seconds:8.1f} {args.frames / seconds:6.1f} {seconds / plain:8.1f}")


if __name__ == "__main__":
    main()

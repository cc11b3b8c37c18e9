"""Temporal benchmark: does a swapped face flicker more than the target's own face moves?

For each development clip with head turns, blinks and open mouths, the first frames are swapped with the
embedded engine (a development portrait as the source). In every pair of consecutive frames the mean absolute
change of the pixels inside the target's face box is measured, in the target and in the result; the printed
ratio (result over target, medians and 95th percentiles) is 1 when the swap moves exactly as the face does and
grows when the new face flickers or pops. Baseline measured in the same run: the target's own change.

Run: ``.venv/bin/python bench/flicker.py [--frames N]``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facefusion.analysis.analyse import FaceAnalyser  # noqa: E402
from facefusion.options import Options  # noqa: E402
from facefusion.pipeline import Job, run_to_end  # noqa: E402

SHARED = Path(os.environ.get("FACEFUSION_TESTDATA", ROOT.parent / "shared" / "testdata"))
CLIPS = (("video_expressions_long_01.mp4", "man_frontal_01.jpg"), ("video_talking_man_01.mp4", "woman_frontal_02.jpg"),
         ("video_glasses_man_01.mp4", "man_frontal_02.jpg"))


def frames_of(path: Path, count: int) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) >= count:
                break
    return frames


def face_changes(frames: list[np.ndarray], boxes: list[tuple[int, int, int, int] | None]) -> np.ndarray:
    """Mean absolute change inside each frame's face box from the frame before (NaN where no face)."""
    changes = []
    for before, after, box in zip(frames, frames[1:], boxes[1:]):
        if box is None:
            changes.append(np.nan)
            continue
        x1, y1, x2, y2 = box
        changes.append(float(np.abs(after[y1:y2, x1:x2].astype(np.int16) - before[y1:y2, x1:x2]).mean()))
    return np.array(changes)


def measure(clip: Path, source: Path, count: int, analyser: FaceAnalyser) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as folder:
        excerpt, output = Path(folder) / "excerpt.mp4", Path(folder) / "out.mp4"
        target_frames = frames_of(clip, count)
        with av.open(str(excerpt), "w") as container:
            stream = container.add_stream("libx264", rate=25, options={"crf": "12"})
            stream.width, stream.height, stream.pix_fmt = target_frames[0].shape[1], target_frames[0].shape[0], "yuv420p"
            for frame in target_frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
            container.mux(stream.encode())
        target_frames = frames_of(excerpt, count)
        run_to_end(Job(sources=(str(source),), target=str(excerpt), output=str(output), resume=False),
                   Options(output_watermark=False, output_video_quality=95))
        result_frames = frames_of(output, count)
    boxes: list[tuple[int, int, int, int] | None] = []
    for frame in target_frames:
        faces = analyser.analyse(frame)
        if not faces:
            boxes.append(None)
            continue
        face = max(faces, key=lambda item: item.size)
        x1, y1, x2, y2 = (int(value) for value in face.bbox)
        boxes.append((max(0, x1), max(0, y1), x2, y2))
    target_change = face_changes(target_frames, boxes)
    result_change = face_changes(result_frames, boxes)
    keep = ~np.isnan(target_change)
    ratio = result_change[keep] / np.maximum(target_change[keep], 0.5)
    return float(np.median(ratio)), float(np.percentile(ratio, 95)), float(result_change[keep].mean() /
                                                                          max(target_change[keep].mean(), 1e-6))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames of each clip (from its start)")
    args = parser.parse_args()
    analyser = FaceAnalyser()
    for clip_name, source_name in CLIPS:
        clip, source = SHARED / clip_name, SHARED / source_name
        if not clip.exists() or not source.exists():
            print(f"{clip_name}: not found in {SHARED}, skipped")
            continue
        median, p95, means = measure(clip, source, args.frames, analyser)
        print(f"{clip_name:32} {args.frames} frames: face-region change, result over target: mean {means:.2f}x, "
              f"median frame {median:.2f}x, 95th percentile {p95:.2f}x")


if __name__ == "__main__":
    main()

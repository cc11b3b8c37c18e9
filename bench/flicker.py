"""Temporal benchmark: does a swapped face flicker more than the target's own face moves?

For each development clip with head turns, blinks and open mouths, the first frames are swapped with the
embedded engine (a development portrait as the source). Two measures, each over the target's face box in every
pair of consecutive frames and given as result over target (mean, median frame, 95th percentile):

- change: the mean absolute change of the pixels from the frame before. It is 1 when the swap moves exactly as
  the face does, and grows when the new face flickers or pops, but also when the new face simply has more
  contrast than the old one (darker brows, make-up): the same head turn then changes more pixels.
- warping error (the usual measure of temporal consistency): the frame before is first carried onto this one
  along the target's own motion (dense optical flow between the target's frames), and what is left is measured.
  A face that moves with the head leaves nothing, whatever its contrast; shimmer, flicker and pops are left.

Baseline measured in the same run: the target's own change and warping error. Identity: in how many of 12 frames
spread over the excerpt the project's recogniser takes the swapped face for the source person. A self-swap (a frame of the clip as
the source) gives about 1.0 on both.

Run: ``.venv/bin/python bench/flicker.py [--frames N]``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facefusion.analysis.analyse import FaceAnalyser  # noqa: E402
from facefusion.analysis.recognise import embedding_distance  # noqa: E402
from facefusion.media.image import read_image  # noqa: E402
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


def warping_errors(frames: list[np.ndarray], flows: list[np.ndarray | None],
                   boxes: list[tuple[int, int, int, int] | None]) -> np.ndarray:
    """Mean absolute difference inside each frame's face box between the frame and the frame before carried
    along ``flows`` (this frame's pixel -> where it was in the frame before; NaN where no face)."""
    errors = []
    for before, after, flow, box in zip(frames, frames[1:], flows, boxes[1:]):
        if box is None or flow is None:
            errors.append(np.nan)
            continue
        height, width = flow.shape[:2]
        columns, rows = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        carried = cv2.remap(before, columns + flow[..., 0], rows + flow[..., 1], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
        x1, y1, x2, y2 = box
        errors.append(float(np.abs(after[y1:y2, x1:x2].astype(np.int16) - carried[y1:y2, x1:x2]).mean()))
    return np.array(errors)


def target_motion(frames: list[np.ndarray]) -> list[np.ndarray | None]:
    """Dense flow from each frame back to the one before (DIS, OpenCV's fast dense flow)."""
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    greys = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in frames]
    return [flow.calc(after, before, None) for before, after in zip(greys, greys[1:])]


def ratios(result: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """(mean, median frame, 95th percentile) of result over target, frames without a face left out."""
    keep = ~np.isnan(target)
    per_frame = result[keep] / np.maximum(target[keep], 0.5)
    return (float(result[keep].mean() / max(target[keep].mean(), 1e-6)), float(np.median(per_frame)),
            float(np.percentile(per_frame, 95)))


SAMPLES = 12
SAME_PERSON = 0.6
"""dlib's own threshold: two descriptors nearer than this are taken for one person."""


def as_source(frames: list[np.ndarray], source: Path, analyser: FaceAnalyser) -> int:
    """In how many of ``SAMPLES`` frames spread over ``frames`` the largest face reads as the source person."""
    wanted = analyser.analyse(read_image(source).frame)
    if not wanted:
        return 0
    source_embedding = analyser.embed(read_image(source).frame, max(wanted, key=lambda face: face.size)).embedding
    found = 0
    for index in np.linspace(0, len(frames) - 1, SAMPLES).round().astype(int):
        faces = analyser.analyse(frames[index])
        if faces and source_embedding is not None:
            embedding = analyser.embed(frames[index], max(faces, key=lambda face: face.size)).embedding
            found += embedding is not None and embedding_distance(embedding, source_embedding) < SAME_PERSON
    return found


def measure(clip: Path, source: Path, count: int, analyser: FaceAnalyser
            ) -> tuple[tuple[float, float, float], tuple[float, float, float], int]:
    """(change ratios, warping error ratios, sampled frames that read as the source), the ratios each
    (mean, median frame, 95th percentile)."""
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
    flows = target_motion(target_frames)
    change = ratios(face_changes(result_frames, boxes), face_changes(target_frames, boxes))
    warping = ratios(warping_errors(result_frames, flows, boxes), warping_errors(target_frames, flows, boxes))
    return change, warping, as_source(result_frames, source, analyser)


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
        change, warping, found = measure(clip, source, args.frames, analyser)
        print(f"{clip_name:32} {args.frames} frames: the source person in {found} of {SAMPLES} sampled frames")
        for name, (mean, median, p95) in (("change", change), ("warping error", warping)):
            print(f"{clip_name:32} {args.frames} frames: face-region {name}, result over target: mean {mean:.2f}x, "
                  f"median frame {median:.2f}x, 95th percentile {p95:.2f}x")

if __name__ == "__main__":
    main()

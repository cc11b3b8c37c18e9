"""Image benchmark: per-stage times of the offline swap, by face size and frame size.

Faces of about 200, 400 and 600 px on 1280x720 and 1920x1080 frames (one face each), and two 200 px
faces on 1280x720. The drawing stages (warp, colour, blend) should cost about the same whatever the
face's size; detection and landmarks run on fixed-size inputs anyway.

Run: ``.venv/bin/python bench/image.py`` (or ``make bench``). Models are loaded and warmed up first;
each figure is the median over the repeats, selector mode ``many``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))

from facefusion import Options, Studio  # noqa: E402
from facefusion.media.image import read_image  # noqa: E402
from facefusion.timing import Stopwatch  # noqa: E402
from sample_media import astronaut, grace_hopper  # noqa: E402

STAGES = ("detect", "landmarks", "embed", "warp", "colour", "blend")


PORTRAIT_FACE_SHARE = 200 / 440
"""Width of the face in the pasted portraits, as a share of the portrait's width."""


def frame_with_faces(count: int, face: int = 200, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """A frame of ``size`` with ``count`` faces about ``face`` px wide, over a textured background."""
    width, height = size
    rng = np.random.default_rng(3)
    frame = cv2.GaussianBlur(rng.integers(40, 220, (height, width, 3), dtype=np.uint8), (0, 0), 6)
    portraits = [read_image(grace_hopper()).frame, read_image(astronaut()).frame]
    portrait_width = int(round(face / PORTRAIT_FACE_SHARE))
    portrait_height = min(height, int(portrait_width * 480 / 440))
    for index in range(count):
        portrait = cv2.resize(portraits[index % 2], (portrait_width, int(portrait_width * 480 / 440)))
        x = max(0, (width - count * portrait_width) // (count + 1)) * (index + 1) + index * portrait_width
        y = (height - portrait_height) // 2
        top = (portrait.shape[0] - portrait_height) // 3
        frame[y:y + portrait_height, x:x + portrait_width] = portrait[top:top + portrait_height, :width - x]
    return frame


def measure(studio: Studio, stopwatch: Stopwatch, frame: np.ndarray, repeats: int) -> dict[str, float]:
    plan = studio.plan([str(astronaut())], frame)
    for _ in range(3):
        studio.process_frame(frame, plan)
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES + ("total",)}
    faces = 0
    for _ in range(repeats):
        stopwatch.reset()
        start = time.perf_counter()
        result = studio.process_frame(frame, plan)
        samples["total"].append(time.perf_counter() - start)
        faces = result.faces_swappable
        for stage in STAGES:
            samples[stage].append(stopwatch.seconds.get(stage, 0.0))
    figures = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    figures["faces"] = faces
    return figures


CASES = (("1 face 200 px, 1280x720", 1, 200, (1280, 720)), ("1 face 400 px, 1280x720", 1, 400, (1280, 720)),
         ("1 face 600 px, 1280x720", 1, 600, (1280, 720)), ("1 face 200 px, 1920x1080", 1, 200, (1920, 1080)),
         ("1 face 400 px, 1920x1080", 1, 400, (1920, 1080)), ("1 face 600 px, 1920x1080", 1, 600, (1920, 1080)),
         ("2 faces 200 px, 1280x720", 2, 200, (1280, 720)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    stopwatch = Stopwatch()
    rows = {}
    with Studio(Options(face_selector_mode="many"), stopwatch) as studio:
        studio.analyser.warm_up()
        for label, count, face, size in CASES:
            rows[label] = measure(studio, stopwatch, frame_with_faces(count, face, size), args.repeats)
    print(f"offline landmark swap, median of {args.repeats} runs, milliseconds")
    print(f"{'case':<26}" + "".join(f"{stage:>10}" for stage in STAGES + ("drawing", "total", "swapped")))
    for label, figures in rows.items():
        drawing = figures["warp"] + figures["colour"] + figures["blend"]
        print(f"{label:<26}" + "".join(f"{figures[stage]:>10.1f}" for stage in STAGES)
              + f"{drawing:>10.1f}{figures['total']:>10.1f}{int(figures['faces']):>10d}")
    base = rows[CASES[0][0]]
    base_drawing = base["warp"] + base["colour"] + base["blend"]
    for label, figures in rows.items():
        drawing = figures["warp"] + figures["colour"] + figures["blend"]
        print(f"drawing {label}: {drawing / max(base_drawing, 1e-6):.2f}x the 200 px face on 1280x720")
    print("embed is 0 in mode many: identity is computed only for reference matching and sources.")


if __name__ == "__main__":
    main()

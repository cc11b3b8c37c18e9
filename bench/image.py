"""Image benchmark: per-stage times of the offline swap on a 1280x720 frame, one face and two.

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

from sample_media import astronaut, grace_hopper  # noqa: E402

from facefusion import Options, Studio  # noqa: E402
from facefusion.media.image import read_image  # noqa: E402
from facefusion.timing import Stopwatch  # noqa: E402

STAGES = ("detect", "landmarks", "embed", "warp", "colour", "blend")


def frame_with_faces(count: int) -> np.ndarray:
    """A 1280x720 frame with ``count`` faces of about 200 px, over a textured background."""
    rng = np.random.default_rng(3)
    frame = cv2.GaussianBlur(rng.integers(40, 220, (720, 1280, 3), dtype=np.uint8), (0, 0), 6)
    portraits = [read_image(grace_hopper()).frame, read_image(astronaut()).frame]
    for index in range(count):
        portrait = cv2.resize(portraits[index % 2], (440, 480))
        x = 120 + index * 560
        frame[120:600, x:x + 440] = portrait
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    stopwatch = Stopwatch()
    with Studio(Options(face_selector_mode="many"), stopwatch) as studio:
        studio.analyser.warm_up()
        rows = {count: measure(studio, stopwatch, frame_with_faces(count), args.repeats) for count in (1, 2)}
    print(f"offline landmark swap, 1280x720, median of {args.repeats} runs, milliseconds")
    print(f"{'stage':<10}" + "".join(f"{f'{count} face(s)':>12}" for count in rows))
    for stage in STAGES + ("total",):
        print(f"{stage:<10}" + "".join(f"{rows[count][stage]:>12.1f}" for count in rows))
    print(f"{'swapped':<10}" + "".join(f"{int(rows[count]['faces']):>12d}" for count in rows))
    print("embed is 0 in mode many: identity is computed only for reference matching and sources.")


if __name__ == "__main__":
    main()

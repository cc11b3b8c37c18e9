"""Where live frames come from: a camera device, or a video file or stream URL played as a camera.

A file plays at its own frame rate and loops, so that a clip can stand in for a camera in demos and tests.
The :class:`Capture` thread reads the camera and keeps only the newest frame: a slow consumer drops frames,
it never makes them wait in a queue (a queue would add its length to every frame's latency).
"""
from __future__ import annotations

import platform
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import av
import cv2

from ..errors import InvalidInputError
from ..media.files import existing_file
from ..media.video import upright
from ..types import FrameBGR

DEVICE = re.compile(r"^(?:(\d+)|(/dev/video\d+))$")
"""A camera given by index (``0``) or by device path (``/dev/video0``)."""
STREAM_URL = re.compile(r"^(rtsp|rtmp|http|https|udp|tcp|srt)://", re.IGNORECASE)
FALLBACK_RATE = 30.0


class Camera(Protocol):
    description: str
    rate: float
    """Frames per second it delivers."""

    def read(self) -> FrameBGR | None:
        """The next frame, when the camera gives it (blocks until then); None when it has no more."""
        ...

    def close(self) -> None: ...


class DeviceCamera:
    """A camera of this machine, through OpenCV (V4L2 on Linux, AVFoundation, DirectShow/MSMF)."""

    def __init__(self, spec: str) -> None:
        match = DEVICE.match(spec)
        assert match is not None
        index, path = match.groups()
        device = path or f"/dev/video{index}"
        # OpenCV prints its own warnings for a device that is not there: on Linux, ask the file system first.
        if platform.system() == "Linux" and not Path(device).exists():
            raise InvalidInputError(f"camera {spec}: {device} does not exist; `facefusion system` lists the cameras "
                                    "this machine has (or give a video file to play as the camera)")
        self._capture = cv2.VideoCapture(int(index) if index is not None else device)
        if not self._capture.isOpened():
            raise InvalidInputError(f"camera {spec} could not be opened (in use by another program, or no "
                                    "permission: on Linux, join the 'video' group)")
        # One buffered frame: an older one would be a frame of latency.
        self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self.rate = float(self._capture.get(cv2.CAP_PROP_FPS) or FALLBACK_RATE)
        self.description = f"camera {device}"

    def read(self) -> FrameBGR | None:
        ok, frame = self._capture.read()
        return frame if ok else None

    def close(self) -> None:
        self._capture.release()


class ClipCamera:
    """A video file (looped, at its own frame rate) or a stream URL (as fast as it arrives) seen as a camera."""

    def __init__(self, spec: str, loop: bool = True) -> None:
        self._spec = spec
        self._url = bool(STREAM_URL.match(spec))
        if not self._url:
            existing_file(spec)
        self._loop = loop and not self._url
        self._container = self._open()
        stream = self._container.streams.video[0]
        self.rate = float(stream.average_rate or stream.guessed_rate or FALLBACK_RATE)
        self.description = f"{'stream' if self._url else 'video'} {spec if self._url else Path(spec).name}"
        self._frames = self._container.decode(video=0)
        self._due: float | None = None
        self._shown = 0

    def _open(self) -> av.container.InputContainer:
        try:
            container = av.open(self._spec, timeout=10.0)
        except (av.error.FFmpegError, OSError) as error:
            raise InvalidInputError(f"--camera {self._spec} cannot be played: {error}; give a camera (0, "
                                    "/dev/video0), a video file or a stream URL") from None
        if not container.streams.video:
            container.close()
            raise InvalidInputError(f"--camera {self._spec} has no video stream")
        return container

    def _next(self) -> av.VideoFrame | None:
        try:
            return next(self._frames, None)
        except av.error.FFmpegError:
            return None  # a damaged frame at the end of a file ends it as the end does

    def read(self) -> FrameBGR | None:
        frame = self._next()
        if frame is None and self._loop and self._shown:
            self._container.close()
            self._container = self._open()
            self._frames = self._container.decode(video=0)
            frame = self._next()
        if frame is None:
            return None
        image = upright(cast(FrameBGR, frame.to_ndarray(format="bgr24")), int(getattr(frame, "rotation", 0) or 0))
        if not self._url:
            self._wait_for_its_time()
        self._shown += 1
        return image

    def _wait_for_its_time(self) -> None:
        """A file is read faster than it plays: each frame waits for its moment, as a camera's would. The clock
        starts again after a pause in the reading (the first frame read, then the models warming up)."""
        now = time.perf_counter()
        if self._due is None or now - self._due > 1 / self.rate:
            self._due = now
        elif self._due > now:
            time.sleep(self._due - now)
        self._due += 1 / self.rate

    def close(self) -> None:
        self._container.close()


VIDEO4LINUX = Path("/sys/class/video4linux")


def list_cameras(sysfs: Path = VIDEO4LINUX) -> list[str]:
    """The video devices Linux knows, each with its name; loopback devices (virtual cameras) say so. Empty
    elsewhere, and where there is none."""
    cameras = []
    for device in sorted(sysfs.glob("video*"), key=lambda path: int(path.name[5:] or 0)):
        name = (device / "name").read_text(errors="replace").strip() if (device / "name").is_file() else "?"
        virtual = "/virtual/" in str(device.resolve())
        cameras.append(f"/dev/{device.name} ({name}{', a virtual camera' if virtual else ''})")
    return cameras


def open_camera(spec: str) -> Camera:
    """The camera ``spec`` names: an index or /dev/videoN, else a video file or a stream URL."""
    if DEVICE.match(spec.strip()):
        return DeviceCamera(spec.strip())
    return ClipCamera(spec)


@dataclass(frozen=True)
class Captured:
    """A camera frame, its number (from 0) and when it was taken (``time.perf_counter``)."""

    image: FrameBGR
    number: int
    time: float


class Capture:
    """Reads a camera on its own thread and holds the newest frame for whoever takes it next.

    ``limit``: stop after this many frames (None: until stopped or the camera ends)."""

    def __init__(self, camera: Camera, stop: threading.Event, limit: int | None = None) -> None:
        self.camera = camera
        self.stop = stop
        self.limit = limit
        self.frames = 0
        """Frames the camera gave."""
        self.dropped = 0
        """Frames replaced by a newer one before anyone took them."""
        self.error: Exception | None = None
        self.ended = threading.Event()
        self._newest: Captured | None = None
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="live-capture", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.is_set() and (self.limit is None or self.frames < self.limit):
                image = self.camera.read()
                if image is None:
                    break
                captured = Captured(image, self.frames, time.perf_counter())
                with self._ready:
                    if self._newest is not None:
                        self.dropped += 1
                    self._newest = captured
                    self.frames += 1
                    self._ready.notify_all()
        except Exception as error:  # noqa: BLE001 - handed to the live run, which reports it
            self.error = error
        finally:
            with self._ready:
                self.ended.set()
                self._ready.notify_all()

    def take(self) -> Captured | None:
        """The newest frame not yet taken (waits for one); None once the camera has ended and none is left."""
        with self._ready:
            while self._newest is None and not self.ended.is_set() and not self.stop.is_set():
                self._ready.wait(0.1)
            captured, self._newest = self._newest, None
            return captured

    def join(self) -> None:
        self._thread.join(timeout=5)

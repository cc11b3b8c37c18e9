"""Where live frames go: an MPEG-TS stream over UDP (OBS, ffplay, VLC), a virtual camera (Zoom, Meet, OBS),
or a recording.

Each output is opened on the first frame (its size is the camera's) and keeps that size: a later frame of
another size is resized to it. Frames carry their capture times as timestamps, so a player shows them with the
camera's own timing, however many were dropped between them.
"""
from __future__ import annotations

import importlib.util
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import cv2

from ..errors import InvalidInputError
from ..media.image import check_output_path
from ..media.video import OUTPUT_VIDEO_EXTENSIONS, EncoderSettings, even
from ..media.video import encoder_options as encoder_options_for
from ..types import FrameBGR

UDP = re.compile(r"^udp://([^:/?#]+):(\d{1,5})(?:[?].*)?$", re.IGNORECASE)
VIRTUAL = re.compile(r"^(?:virtual|v4l2:(/dev/video\d+))$")
UDP_PACKET = 1316
"""Seven 188-byte MPEG-TS packets: one UDP datagram under a usual network's MTU."""
MILLISECONDS = Fraction(1, 1000)
LIVE_QUALITY = 55
"""The encoders' quality for live (0-100, as --output-video-quality): CRF 23 for x264, a stream a LAN carries."""
KEYFRAME_SECONDS = 1
"""A player that joins the stream late waits at most this long for a picture."""
VIRTUAL_CAMERA_HELP = ("a virtual camera needs the live extra (`make live` installs pyvirtualcam) and the "
                       "system's driver: v4l2loopback on Linux (sudo modprobe v4l2loopback), OBS Studio's virtual "
                       "camera on Windows and macOS")


class LiveOutput(Protocol):
    description: str

    def start(self, frame: FrameBGR) -> None:
        """Open for frames of this one's size (a failure shows before the camera runs)."""
        ...

    def send(self, frame: FrameBGR, captured: float) -> None:
        """Send one frame; ``captured``: when the camera took it (``time.perf_counter``)."""
        ...

    def close(self) -> None:
        """Finish (a recording appears under its name only now)."""
        ...

    def abandon(self) -> None:
        """Stop without finishing (a recording's part is removed)."""
        ...


class EncodedOutput:
    """H.264 (VP9 for .webm) through FFmpeg to a UDP address or a file, timed by the capture times."""

    def __init__(self, target: str, container_format: str | None, description: str, rate: float,
                 metadata: dict[str, str] | None = None, final: Path | None = None) -> None:
        """``rate``: the camera's frames per second; ``final``: the recording's name, for a ``target`` that is
        its temporary part."""
        self.description = description
        self._rate = rate
        self._target = target
        self._format = container_format
        self._metadata = metadata or {}
        self._final = final
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._size = (0, 0)
        self._first: float | None = None
        self._last_pts = -1

    def start(self, frame: FrameBGR) -> None:
        if self._container is not None:
            return
        rate = self._rate
        height, width = frame.shape[:2]
        self._size = (even(width), even(height))
        options = {"flush_packets": "1"} if self._format == "mpegts" else {}
        try:
            self._container = av.open(self._target, "w", format=self._format, options=options)
        except (av.error.FFmpegError, OSError) as error:
            raise InvalidInputError(f"--live-output {self.description}: cannot open it ({error})") from None
        for key, value in self._metadata.items():
            self._container.metadata[key] = value
        encoder = "libvpx-vp9" if self._target.endswith(".webm") else "libx264"
        # The fastest preset (x264: about 5 ms a 480x480 frame on 2 cores; VP9: real-time, no lag), and for x264 no
        # lookahead either, so each frame leaves the encoder as soon as it went in.
        encoder_options = encoder_options_for(EncoderSettings(encoder, preset="ultrafast", quality=LIVE_QUALITY))
        if encoder == "libx264":
            encoder_options["tune"] = "zerolatency"
        encoder_options["g"] = str(max(1, round(rate * KEYFRAME_SECONDS)))
        stream = self._container.add_stream(encoder, rate=max(1, round(rate)), options=encoder_options)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = self._size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = MILLISECONDS
        self._stream = stream

    def send(self, frame: FrameBGR, captured: float) -> None:
        self.start(frame)
        if self._first is None:
            self._first = captured
        assert self._container is not None and self._stream is not None
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        picture = av.VideoFrame.from_ndarray(frame, format="bgr24")
        pts = max(self._last_pts + 1, round((captured - self._first) * 1000))
        picture.pts, picture.time_base = pts, MILLISECONDS
        self._last_pts = pts
        for packet in self._stream.encode(picture):
            self._container.mux(packet)

    def close(self) -> None:
        if self._first is None:  # nothing was sent: a recording of no frame is no recording
            self.abandon()
            if self._final is not None:
                raise InvalidInputError("no frame was recorded, so no recording was written")
            return
        assert self._container is not None and self._stream is not None
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None
        if self._final is not None:
            os.replace(self._target, self._final)

    def abandon(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError):
                pass
            self._container = None
        if self._final is not None:
            Path(self._target).unlink(missing_ok=True)


class VirtualCamera:
    """A virtual camera (pyvirtualcam): other apps pick it as their camera."""

    def __init__(self, device: str | None, rate: float) -> None:
        self.description = f"virtual camera {device or '(the first free one)'}"
        self._device = device
        self._rate = rate
        self._camera: object | None = None

    def start(self, frame: FrameBGR) -> None:
        import pyvirtualcam

        if self._camera is None:
            height, width = frame.shape[:2]
            try:
                self._camera = pyvirtualcam.Camera(width, height, self._rate, device=self._device,
                                                   fmt=pyvirtualcam.PixelFormat.BGR)
            except RuntimeError as error:
                raise InvalidInputError(f"the virtual camera could not start ({error}); {VIRTUAL_CAMERA_HELP}") \
                    from None

    def send(self, frame: FrameBGR, captured: float) -> None:
        import pyvirtualcam

        self.start(frame)
        camera = self._camera
        assert isinstance(camera, pyvirtualcam.Camera)
        if (frame.shape[1], frame.shape[0]) != (camera.width, camera.height):
            frame = cv2.resize(frame, (camera.width, camera.height), interpolation=cv2.INTER_AREA)
        camera.send(frame)

    def close(self) -> None:
        if self._camera is not None:
            import pyvirtualcam

            assert isinstance(self._camera, pyvirtualcam.Camera)
            self._camera.close()
            self._camera = None

    def abandon(self) -> None:
        self.close()


def virtual_camera_installed() -> bool:
    """Whether the live extra (pyvirtualcam) is installed."""
    return importlib.util.find_spec("pyvirtualcam") is not None


def open_output(spec: str, inputs: list[str], metadata: dict[str, str], rate: float) -> LiveOutput:
    """The output ``spec`` names: ``udp://HOST:PORT``, ``virtual``, ``v4l2:/dev/videoN`` or a recording's path
    (checked now, written from the first frame). ``inputs``: files a recording must not overwrite."""
    udp = UDP.match(spec)
    if udp is not None:
        host, port = udp.groups()
        if not 0 < int(port) < 65536:
            raise InvalidInputError(f"--live-output {spec}: the port must be 1-65535")
        separator = "&" if "?" in spec else "?"
        return EncodedOutput(f"{spec}{separator}pkt_size={UDP_PACKET}", "mpegts", f"udp://{host}:{port}", rate)
    virtual = VIRTUAL.match(spec)
    if virtual is not None:
        if not virtual_camera_installed():
            raise InvalidInputError(f"--live-output {spec}: {VIRTUAL_CAMERA_HELP}")
        return VirtualCamera(virtual.group(1), rate)
    if "://" in spec or spec.startswith("v4l2:"):
        raise InvalidInputError(f"--live-output {spec}: give udp://HOST:PORT, virtual, v4l2:/dev/videoN or a file "
                                f"({', '.join(OUTPUT_VIDEO_EXTENSIONS)})")
    final = check_output_path(spec, inputs, OUTPUT_VIDEO_EXTENSIONS, "a recording")
    part = final.with_name(f".{final.stem}.recording{final.suffix}")
    return EncodedOutput(str(part), None, f"recording {final}", rate, metadata, final)

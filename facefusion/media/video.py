"""Video files with PyAV (FFmpeg inside the wheel): probe, decode, encode, and final assembly.

Everything stays in the process: no ffmpeg binary, no temporary frame images. Frames are decoded
as BGR arrays, upright (rotation metadata applied), and carry their own timestamps so variable frame
rates survive.
"""
from __future__ import annotations

import ctypes
import heapq
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np

from ..errors import STORAGE_ERRNOS, InvalidInputError, storage_error
from ..types import FrameBGR
from .files import existing_file

OUTPUT_VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm")
CONTAINER_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
ENCODER_CANDIDATES = ("libx264", "libx265", "libvpx-vp9", "libsvtav1", "mpeg4", "h264_nvenc", "hevc_nvenc")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# Audio codecs each container accepts as they are; others are re-encoded.
COPYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "alac", "opus", "ac3", "eac3", "flac"},
    "mov": {"aac", "mp3", "alac", "pcm_s16le", "pcm_s24le", "ac3"},
    "matroska": {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "alac"},
    "webm": {"opus", "vorbis"},
}
WEBM_ENCODERS = ("libvpx-vp9", "libsvtav1")


def available_encoders() -> tuple[str, ...]:
    """Video encoders this PyAV build carries (hardware ones may still fail to open without a GPU)."""
    return tuple(name for name in ENCODER_CANDIDATES if name in av.codecs_available)


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    """Upright width (rotation applied)."""
    height: int
    frame_count: int
    fps: float
    """Average frame rate."""
    duration: float
    """Seconds from the first frame's start to the last frame's end."""
    time_base: Fraction
    frame_pts: tuple[int, ...]
    """Presentation timestamp of every frame, in ``time_base``, in display order."""
    rotation: int
    """Counter-clockwise degrees the stored picture must be turned for display."""
    audio_streams: int
    codec: str

    def frame_time(self, index: int) -> float:
        return float(self.frame_pts[index] * self.time_base)


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's layout: frames, timestamps, rotation, audio. InvalidInputError when unusable."""
    file = existing_file(path)
    try:
        with av.open(str(file)) as container:
            if not container.streams.video:
                what = " (it holds sound only)" if container.streams.audio else ""
                raise InvalidInputError(f"no video stream in {file}{what}; give a video file (mp4, mov, mkv, webm)")
            stream = container.streams.video[0]
            audio_streams = len(container.streams.audio)
            pts = sorted(packet.pts for packet in container.demux(stream)
                         if packet.pts is not None and packet.size > 0)
            if stream.time_base is None:
                raise InvalidInputError(f"cannot read video (its video stream has no time base): {file}")
            time_base = stream.time_base
            codec = stream.codec_context.name
        if not pts:
            raise InvalidInputError(f"no frames in video {file}: its video stream is empty; give a video with "
                                    "at least one frame")
        with av.open(str(file)) as container:
            first = next(container.decode(video=0))
            rotation = int(getattr(first, "rotation", 0) or 0)
            width, height = first.width, first.height
    except InvalidInputError:
        raise
    except (av.error.EOFError, StopIteration) as error:
        raise InvalidInputError(f"no frames in video {file}: it ends before its first frame (empty or cut "
                                "short); give a video with at least one frame") from error
    except (av.FFmpegError, OSError, ValueError) as error:
        raise InvalidInputError(f"cannot read video (corrupt or not a video): {file}") from error
    if rotation % 180:
        width, height = height, width
    step = (pts[-1] - pts[0]) / (len(pts) - 1) if len(pts) > 1 else 1 / (float(time_base) * 25)
    duration = float((pts[-1] - pts[0] + step) * time_base)
    fps = len(pts) / duration if duration > 0 else 25.0
    return VideoInfo(path=str(file), width=width, height=height, frame_count=len(pts), fps=fps, duration=duration,
                     time_base=time_base, frame_pts=tuple(pts), rotation=rotation, audio_streams=audio_streams,
                     codec=codec)


def upright(image: FrameBGR, rotation: int) -> FrameBGR:
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


@dataclass(frozen=True)
class DecodedFrame:
    index: int
    image: FrameBGR


def read_frames(info: VideoInfo, start: int = 0, end: int | None = None) -> Iterator[DecodedFrame]:
    """Decode frames ``start`` to ``end`` (exclusive), upright, seeking near ``start`` first."""
    end = info.frame_count if end is None else min(end, info.frame_count)
    if start >= end:
        return
    index_of = {pts: index for index, pts in enumerate(info.frame_pts)}
    with av.open(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start > 0:
            container.seek(info.frame_pts[start], stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            index = index_of.get(frame.pts) if frame.pts is not None else None
            if index is None or index < start:
                continue
            if index >= end:
                break
            yield DecodedFrame(index=index, image=upright(cast(FrameBGR, frame.to_ndarray(format="bgr24")), info.rotation))


@dataclass(frozen=True)
class EncoderSettings:
    encoder: str = "libx264"
    preset: str = "veryfast"
    quality: int = 80
    """0-100, mapped to the encoder's own scale (CRF for x264/x265: 51 at 0, 0 at 100)."""
    alpha: bool = False
    """Frames carry a transparency (BGRA) that the file keeps: VP9's yuva420p, in webm only."""


def encoder_options(settings: EncoderSettings) -> dict[str, str]:
    """FFmpeg options for the chosen encoder. B-frames are off so every segment's packets have
    decode time = presentation time, which lets segments be joined without re-encoding."""
    quality = settings.quality
    preset_rank = PRESETS.index(settings.preset)
    if settings.encoder in ("libx264", "libx265"):
        options = {"crf": str(round(51 - quality * 51 / 100)), "preset": settings.preset}
        if settings.encoder == "libx264":
            options["bf"] = "0"
        else:
            options["x265-params"] = "bframes=0:log-level=error"
        return options
    if settings.encoder == "libvpx-vp9":
        return {"crf": str(round(63 - quality * 63 / 100)), "b": "0", "cpu-used": str(8 - preset_rank),
                "deadline": "realtime" if preset_rank < 3 else "good", "lag-in-frames": "0", "row-mt": "1"}
    if settings.encoder == "libsvtav1":
        return {"crf": str(round(63 - quality * 63 / 100)), "preset": str(12 - preset_rank)}
    if settings.encoder in ("h264_nvenc", "hevc_nvenc"):
        return {"cq": str(round(51 - quality * 51 / 100)), "preset": f"p{min(7, 1 + preset_rank * 6 // 8)}",
                "bf": "0"}
    return {"qscale": str(round(31 - quality * 30 / 100))}


def release_freed_memory() -> None:
    """Hand memory freed by a closed encoder back to the system.

    Each segment's encoder allocates and frees tens of megabytes of frame buffers on its own threads;
    glibc keeps such memory for reuse, so without this the peak would creep up with every segment of
    a long video. A no-op where glibc is not the allocator."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def even(value: int) -> int:
    return value + (value % 2)


class SegmentWriter:
    """Encodes frames into one video-only file; the file appears under its name only when closed."""

    def __init__(self, path: Path, width: int, height: int, time_base: Fraction, rate: Fraction,
                 settings: EncoderSettings, threads: int = 1) -> None:
        """``threads``: encoder threads, 0 for the encoder's own choice. The pipeline uses one: the
        encoder already runs beside decoding and drawing, and threads of its own would be made anew for
        every segment (and their memory with them)."""
        self.path = path
        self.temporary = path.with_name(path.name + ".partial")
        self.frames = 0
        self.width, self.height = even(width), even(height)
        try:
            self._container = av.open(str(self.temporary), "w", format="matroska")
        except OSError as error:
            raise storage_error(error, self.path, "write") from None
        try:
            self._stream = cast(av.VideoStream, self._container.add_stream(settings.encoder, rate=rate,
                                                                          options=encoder_options(settings)))
            self._stream.width, self._stream.height = self.width, self.height
            self._alpha = settings.alpha
            self._stream.pix_fmt = "yuva420p" if settings.alpha else "yuv420p"
            self._time_base = time_base
            self._stream.time_base = time_base
            self._stream.codec_context.time_base = time_base
            self._stream.codec_context.thread_count = threads
            self._stream.codec_context.open()
        except (av.FFmpegError, ValueError) as error:
            self._abandon()
            raise InvalidInputError(f"--output-video-encoder {settings.encoder} cannot be used here ({error}); "
                                    "use libx264") from error

    def write(self, image: FrameBGR, pts: int) -> None:
        try:
            self._write(image, pts)
        except OSError as error:  # a full disk: the segment is dropped, finished ones are kept for a resume
            self._abandon()
            raise storage_error(error, self.path, "write") from None

    def _write(self, image: FrameBGR, pts: int) -> None:
        if image.shape[1] != self.width or image.shape[0] != self.height:
            # 4:2:0 needs even sizes: repeat the last row or column rather than scale.
            image = cv2.copyMakeBorder(image, 0, self.height - image.shape[0], 0, self.width - image.shape[1],
                                       cv2.BORDER_REPLICATE)
        if self._alpha:
            # The transparency rides as a fourth plane (VP9 codes it as a second picture beside the first).
            if image.shape[2] == 3:
                image = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgra").reformat(format="yuva420p")
        else:
            # OpenCV's BGR to I420 (BT.601, video range, as the decoder reads it back) is about 7 times faster
            # than the library's own conversion, and the encoder then takes the planes as they are.
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]),
                                                            cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        frame.pts = pts
        frame.time_base = self._time_base
        self._mux(self._stream.encode(frame))
        self.frames += 1

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            # Flushed packets come back without a time base; every packet is in the encoder's.
            packet.time_base = self._time_base
            self._container.mux(packet)

    def close(self) -> Path:
        try:
            self._mux(self._stream.encode(None))
            self._container.close()
            # On the disk before it counts as finished: a resume after a power cut must not find half a file.
            handle = os.open(self.temporary, os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)
            os.replace(self.temporary, self.path)
        except OSError as error:
            self._abandon()
            raise storage_error(error, self.path, "write") from None
        release_freed_memory()
        return self.path

    def _abandon(self) -> None:
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - best effort on a broken output
            pass
        self.temporary.unlink(missing_ok=True)

    def abandon(self) -> None:
        """Drop a half-written segment (a stop or a crash): nothing is left under its name."""
        self._abandon()


def assemble(segments: list[Path], info: VideoInfo, output: Path, start_time: float, end_time: float,
             shift: float, keep_audio: bool = True, description: str | None = None, volume: float = 1.0) -> Path:
    """Join video segments (no re-encoding) and the target's audio streams in [start_time, end_time)
    into ``output``, every timestamp moved back by ``shift`` seconds, muxed in time order (an
    interleaved file). It is written under a temporary name and renamed when complete."""
    fmt = CONTAINER_FORMATS[output.suffix.lower()]
    temporary = output.with_name(f".{output.stem}.assembling{output.suffix}")
    containers: list[av.container.InputContainer] = []
    encoded_audio: list[tuple[av.AudioStream, av.AudioResampler]] = []
    try:
        with av.open(str(temporary), "w", format=fmt) as out:
            # The container says what made it and what was done (engine and models).
            out.metadata["encoder"] = "facefusion-studio"
            if description:
                out.metadata["comment"] = description
            segment_inputs = [av.open(str(path)) for path in segments]
            containers += segment_inputs
            video_out = _remuxed_stream(out, segment_inputs[0].streams.video[0])
            sources = [_timed(_video_packets(segment_inputs), video_out, None, shift, -float("inf"), float("inf"))]
            for position in range(info.audio_streams if keep_audio else 0):
                reader = av.open(info.path)
                containers.append(reader)
                audio = reader.streams.audio[position]
                resampler = None
                # A changed volume needs new samples; otherwise the audio is copied when it can be.
                if audio.codec_context.name in COPYABLE_AUDIO[fmt] and volume == 1.0:
                    audio_out = out.add_stream_from_template(audio)
                else:
                    # Opus only runs at 48 kHz (and a few lower rates): the resampler converts.
                    audio_out = out.add_stream("libopus", rate=48000) if fmt == "webm" else out.add_stream(
                        "aac", rate=audio.codec_context.sample_rate or 48000)
                    resampler = _resampler(audio_out)
                    encoded_audio.append((audio_out, resampler))
                sources.append(_timed(reader.demux(audio), audio_out, resampler, shift, start_time, end_time))
            for _, packet, stream, resampler in heapq.merge(*sources, key=lambda item: item[0]):
                if resampler is None:
                    packet.stream = stream
                    out.mux(packet)
                    continue
                for decoded in packet.decode():
                    decoded.pts = None
                    for converted in resampler.resample(cast(av.AudioFrame, decoded)):
                        out.mux(cast(av.AudioStream, stream).encode(_louder(converted, volume)))
            for stream, resampler in encoded_audio:
                for converted in resampler.resample(None):
                    out.mux(stream.encode(converted))
                out.mux(stream.encode(None))
        os.replace(temporary, output)
    except OSError as error:
        if error.errno not in STORAGE_ERRNOS:
            raise
        raise storage_error(error, output, "write") from None
    finally:
        for container in containers:
            container.close()
        temporary.unlink(missing_ok=True)
    return output


def _remuxed_stream(out: av.container.OutputContainer, template: av.stream.Stream) -> av.stream.Stream:
    """A stream of ``out`` for ``template``'s packets as they are. PyAV names the new stream's codec after
    the template's decoder, and some decoders are no encoder's name (AV1 is read by libdav1d): those
    streams are made from the decoder itself, which muxing never uses to code anything."""
    try:
        return out.add_stream_from_template(template)
    except av.codec.codec.UnknownCodecError:
        return out.add_stream_from_template(template, opaque=True)


def _video_packets(segments: list[av.container.InputContainer]) -> Iterator[av.Packet]:
    for segment in segments:
        for packet in segment.demux(segment.streams.video[0]):
            if packet.size > 0:
                yield packet


def _timed(packets: Iterator[av.Packet], stream: av.stream.Stream, resampler: av.AudioResampler | None,
           shift: float, start: float, end: float
           ) -> Iterator[tuple[float, av.Packet, av.stream.Stream, av.AudioResampler | None]]:
    """Packets within [start, end) (seconds, original timeline), moved back by ``shift``, keyed by
    decode time for interleaving."""
    for packet in packets:
        if packet.pts is None or packet.size == 0:
            continue
        time_base = packet.time_base
        if not start - 1e-6 <= float(packet.pts * time_base) < end - 1e-6:
            continue
        offset = round(shift / time_base)
        packet.pts -= offset
        if packet.dts is not None:
            packet.dts -= offset
        reference = packet.dts if packet.dts is not None else packet.pts
        yield float(reference * time_base), packet, stream, resampler


def _louder(frame: av.AudioFrame, volume: float) -> av.AudioFrame:
    """The frame's samples times ``volume`` (0..1), in the frame's own sample format."""
    if volume == 1.0:
        return frame
    samples = frame.to_ndarray()
    scaled = samples.astype(np.float32) * volume
    if np.issubdtype(samples.dtype, np.integer):
        limits = np.iinfo(samples.dtype.name)
        scaled = np.clip(np.rint(scaled), limits.min, limits.max)
    # The samples go back in the frame's own format, which from_ndarray checks against the array's type.
    quieter = av.AudioFrame.from_ndarray(cast(np.ndarray, scaled.astype(samples.dtype)), format=frame.format.name,
                                         layout=frame.layout.name)
    quieter.sample_rate = frame.sample_rate
    return quieter


def _resampler(stream: av.AudioStream) -> av.AudioResampler:
    context = stream.codec_context
    return av.AudioResampler(format=context.format.name if context.format else "fltp",
                             layout=context.layout.name if context.layout else "stereo",
                             rate=context.sample_rate)

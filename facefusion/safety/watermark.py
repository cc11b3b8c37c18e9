"""The invisible watermark every output carries: 32 bits, drawn by rivaGAN's encoder.

rivaGAN (a learned video watermark, MIT; its ONNX encoder and decoder ship in the
``invisible-watermark`` wheel, of which nothing else is used) hides 32 bits in a picture at about
41 dB PSNR (39.5 dB with ``GAIN``), and its decoder finds them again after JPEG at quality 70, WebP, halving the size, cutting
10 % off every edge and H.264 at CRF 28 (measured on the development clip and photos). The network
costs about 170 ms on a 320x180 picture on 2 cores, so it never sees a whole frame: it marks a copy
scaled so its short side is ``IMAGE_SIDE`` (pictures) or ``VIDEO_SIDE`` (videos), and the change it
makes there is enlarged and added to the full-size output. Reading scales the picture the same way,
so the mark survives resizing by construction.

A video's mark is worked out on one frame of every ``VIDEO_REFRESH`` and added to the frames after
it, where the picture has hardly moved (each frame read alone after H.264 at CRF 28: 0 to 3 of 32
bits wrong; reading averages the decoder's outputs over many frames). Every segment starts with a
fresh one, so a resumed run writes the frames an uninterrupted run writes.

The payload is 32 bits: the product's 12-bit mark and a 20-bit output id (logged with the run). Each
half of the picture (split across its longer side) carries 16 of them, coded with the Reed-Muller
code RM(2,5) into rivaGAN's 32, so up to 3 wrong bits in a half are mended. A picture counts as marked
when its first half decodes within 3 errors to the product's mark, which a picture without the mark
does about once in 50,000 readings (8 % of random bit patterns lie within 3 bits of one of the 65,536
codewords, and one in 4096 of those carries the mark); the id is read when the second half decodes too.
``read`` tries up to 6 readings of a picture and, for a video, 6 more of each sampled frame: about one
unmarked picture in 8,000 and one unmarked video in 300 (24 frames) could read as marked.
"""
from __future__ import annotations

import hashlib
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np

from ..errors import InvalidInputError
from ..types import FrameBGR

PACKAGE = "invisible-watermark"
ENCODER_FILE = "imwatermark/rivagan_encoder.onnx"
DECODER_FILE = "imwatermark/rivagan_decoder.onnx"
BITS = 32
"""What rivaGAN carries in one picture."""
INFO_BITS = 16
"""What each picture half carries once coded (Reed-Muller RM(2,5): 16 bits in 32, any 3 bit errors mended)."""
MARK_BITS = 12
ID_BITS = 2 * INFO_BITS - MARK_BITS
"""The payload: the product's 12-bit mark and a 20-bit output id, 32 bits, spread over the two halves."""
PRODUCT_MARK = int.from_bytes(hashlib.sha256(b"facefusion-studio watermark v1").digest()[:2], "big") >> (16 - MARK_BITS)
MAX_ERRORS = 3
"""Bit errors a half may have and still count: RM(2,5)'s codewords differ in 8 bits or more."""
GAIN = 1.5
"""How much the encoder's change is strengthened: 39.5 dB PSNR (faint blotches on flat skin seen enlarged
twice; none at 1:1). Of 18 development photos, 13 to 15 (by id) are read with their id after each of
JPEG 70 with halving, WebP 75 and a 10 % cut at every edge; at 1.0 (42.9 dB) 10."""
IMAGE_SIDE = 180
"""Short side (px) of the copy a picture is marked on. A mark made on a larger copy is finer, but lost
when the picture is shrunk below that copy's size and compressed (halving and JPEG 70 undid a mark made
at 360 on most development photos)."""
VIDEO_SIDE = 108
"""Short side (px) of the copy a video frame is marked on: a third of a picture's cost."""
VIDEO_REFRESH = 48
"""Frames a video's mark is worked out anew (86 ms on one core at 720p): each one is added to the frames
after it (0.2 ms a frame)."""
READ_SIDES = (IMAGE_SIDE, VIDEO_SIDE)
READ_SCALES = (1.0, 0.8, 1.25)
"""Around each side the mark may have been made at, the scales read (their outputs averaged): a picture cut
down by 10 % at every edge, or enlarged or shrunk on the way."""
SMALLEST_SIDE = 32
"""Pictures with a shorter side than this are too small to carry the mark."""


@cache
def codebook() -> np.ndarray:
    """RM(2,5)'s 65536 codewords as rows of +1/-1 (int8), row ``i`` coding the 16 bits of ``i``."""
    points = np.array([[(column >> bit) & 1 for bit in range(5)] for column in range(32)], np.uint8)
    rows = [np.ones(32, np.uint8)] + [points[:, a] for a in range(5)]
    rows += [points[:, a] & points[:, b] for a in range(5) for b in range(a + 1, 5)]
    generator = np.array(rows, np.uint8)  # 16 x 32
    messages = ((np.arange(1 << INFO_BITS)[:, None] >> np.arange(INFO_BITS - 1, -1, -1)) & 1).astype(np.uint8)
    codewords = (messages @ generator) % 2
    return (1 - 2 * codewords.astype(np.int8)).astype(np.int8)


def encode_half(value: int) -> np.ndarray:
    """The 32 bits (0/1, float32) rivaGAN hides for a 16-bit ``value``."""
    return ((1 - codebook()[value]) // 2).astype(np.float32)


def decode_half(logits: np.ndarray) -> tuple[int, int]:
    """(most likely 16-bit value, bit errors against its codeword) for the decoder's 32 logits."""
    # A set bit is a -1 in the codebook and a positive logit.
    value = int(np.argmax(codebook() @ -np.tanh(logits / 2)))
    errors = int(np.count_nonzero((logits > 0) != (codebook()[value] < 0)))
    return value, errors


def halves_of(output_id: int) -> tuple[int, int]:
    """The two 16-bit values a picture's halves carry: the product's mark and the id's top 4 bits, then the
    id's other 16."""
    if not 0 <= output_id < 1 << ID_BITS:
        raise ValueError(f"watermark id out of range: {output_id}")
    return (PRODUCT_MARK << (INFO_BITS - MARK_BITS)) | (output_id >> INFO_BITS), output_id & 0xFFFF


def new_output_id() -> int:
    return secrets.randbelow(1 << ID_BITS)


def format_id(output_id: int) -> str:
    return f"{output_id:05x}"


@dataclass(frozen=True)
class MarkReading:
    """What the decoder read. ``marked``: the first half holds the product's mark; ``output_id`` when the
    second half could be read too."""

    marked: bool
    output_id: int | None
    confidence: float
    """Share of the 64 bits that agree with the codewords read (1.0: no bit error)."""


def reading_of(first: np.ndarray, second: np.ndarray) -> MarkReading:
    """The reading of the decoder's logits for the two halves."""
    (head, head_errors), (tail, tail_errors) = decode_half(first), decode_half(second)
    marked = head_errors <= MAX_ERRORS and head >> (INFO_BITS - MARK_BITS) == PRODUCT_MARK
    known = marked and tail_errors <= MAX_ERRORS
    output_id = ((head & ((1 << (INFO_BITS - MARK_BITS)) - 1)) << INFO_BITS) | tail if known else None
    return MarkReading(marked, output_id, round(1 - (head_errors + tail_errors) / (2 * BITS), 3))


def _model_path(name: str) -> Path:
    try:
        path = Path(str(metadata.distribution(PACKAGE).locate_file(name)))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise InvalidInputError(f"the watermark model {name} is missing: run `make setup` (it installs {PACKAGE} "
                                "without its dependencies), or give --no-output-watermark")
    return path


def _scaled(frame: FrameBGR, side: int, enlarge: bool = False) -> FrameBGR:
    """``frame`` scaled so its short side is ``side`` (smaller pictures are enlarged only with ``enlarge``)."""
    height, width = frame.shape[:2]
    scale = side / min(height, width)
    if scale == 1 or scale > 1 and not enlarge:
        return frame
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _halves(shape: tuple[int, ...]) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The two halves of a picture, split across its longer side (left and right, or top and bottom)."""
    height, width = shape[:2]
    if width >= height:
        return (slice(None), slice(0, width // 2)), (slice(None), slice(width // 2, width))
    return (slice(0, height // 2), slice(None)), (slice(height // 2, height), slice(None))


def _network_input(frame: FrameBGR) -> np.ndarray:
    """rivaGAN's input layout: 1 x 3 x 1 (time) x H x W, values -1..1."""
    return (frame.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None, :, None]


class Watermarker:
    """rivaGAN's encoder and decoder on the CPU (small networks; one thread, as they run beside a video
    run's own threads). Not thread-safe: one per run."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def _session(self, name: str) -> object:
        import onnxruntime

        settings = onnxruntime.SessionOptions()
        settings.intra_op_num_threads = self.threads
        settings.inter_op_num_threads = 1
        settings.log_severity_level = 3
        return onnxruntime.InferenceSession(str(_model_path(name)), settings, providers=["CPUExecutionProvider"])

    @cached_property
    def encoder(self) -> object:
        return self._session(ENCODER_FILE)

    @cached_property
    def decoder(self) -> object:
        return self._session(DECODER_FILE)

    def change(self, frame: FrameBGR, output_id: int, side: int) -> np.ndarray:
        """What marking adds to ``frame`` (float32, the frame's size): worked out on the copy whose short side is
        ``side``, one half of it (split across its longer side) at a time, then enlarged."""
        small = _scaled(frame, side)
        difference = np.empty(small.shape, np.float32)
        for window, value in zip(_halves(small.shape), halves_of(output_id)):
            part = np.ascontiguousarray(small[window])
            marked = self.encoder.run(None, {"frame": _network_input(part),  # type: ignore[attr-defined]
                                             "data": encode_half(value)[None]})[0]
            marked = (np.clip(marked[0, :, 0].transpose(1, 2, 0), -1.0, 1.0) + 1.0) * 127.5
            difference[window] = (marked - part.astype(np.float32)) * GAIN
        if small.shape[:2] == frame.shape[:2]:
            return difference
        return cv2.resize(difference, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)

    def mark(self, frame: FrameBGR, output_id: int) -> FrameBGR:
        """A marked copy of the picture ``frame`` (``frame`` itself when it is too small to carry the mark)."""
        if min(frame.shape[:2]) < SMALLEST_SIDE:
            return frame
        return cv2.add(frame, self.change(frame, output_id, IMAGE_SIDE), dtype=cv2.CV_8U)

    def outputs(self, frame: FrameBGR, side: int) -> tuple[np.ndarray, np.ndarray]:
        """The decoder's 32 logits for each half of ``frame`` seen at short side ``side``."""
        scaled = _scaled(frame, side, enlarge=True)
        return tuple(self.decoder.run(None, {"frame": _network_input(np.ascontiguousarray(scaled[window]))})[0][0]  # type: ignore[attr-defined]
                     for window in _halves(scaled.shape))  # type: ignore[return-value]

    def read(self, frames: list[FrameBGR], video: bool = False) -> MarkReading:
        """The reading of ``frames`` (one picture, or frames sampled from a video). The sides the mark may
        have been made at (a video's first) are tried at each of ``READ_SCALES``, on the decoder's logits
        averaged over the frames, until one gives the product's mark with an id. A video's frames are then
        read one by one as well: a frame far from where its mark was worked out, in a clip that moves
        fast, reads worse than the frames near it. Else the best reading."""
        usable = [frame for frame in frames if min(frame.shape[:2]) >= SMALLEST_SIDE]
        if not usable:
            return MarkReading(False, None, 0.0)
        groups = [range(len(usable))] + ([[index] for index in range(len(usable))] if video and len(usable) > 1 else [])
        seen: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

        def outputs_of(index: int, side: int) -> tuple[np.ndarray, np.ndarray]:
            """Each frame is decoded once at each size: the frame-by-frame pass reuses the first's."""
            if (index, side) not in seen:
                seen[index, side] = self.outputs(usable[index], side)
            return seen[index, side]

        readings = []
        for group in groups:
            for side in (VIDEO_SIDE, IMAGE_SIDE) if video else READ_SIDES:
                for scale in READ_SCALES:
                    outputs = [outputs_of(index, round(side * scale)) for index in group]
                    reading = reading_of(np.mean([first for first, _ in outputs], axis=0),
                                         np.mean([second for _, second in outputs], axis=0))
                    if reading.output_id is not None:
                        return reading
                    readings.append(reading)
        return max(readings, key=lambda reading: (reading.marked, reading.confidence))


VIDEO_LEAD = 8
"""Frames after the one it is worked out from that a new change takes effect: meanwhile it is worked out
on a thread of its own, so the encoder never waits for it (always the same frame, so a resumed run writes
what an uninterrupted one writes)."""


class VideoMarker:
    """Marks a video's frames in order: the change is worked out on one frame in ``VIDEO_REFRESH`` and
    added, from ``VIDEO_LEAD`` frames later, to the frames after it. ``restart`` at every segment's first
    frame; ``close`` at the end."""

    def __init__(self, watermarker: Watermarker, output_id: int) -> None:
        self.watermarker = watermarker
        self.output_id = output_id
        self._change: tuple[np.ndarray, np.ndarray] | None = None
        self._index = 0
        self._pending: tuple[int, Future] | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="watermark")

    def restart(self) -> None:
        if self._pending is not None:
            self._pending[1].cancel()
        self._change, self._pending, self._index = None, None, 0

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)

    def _worked_out(self, frame: FrameBGR) -> tuple[np.ndarray, np.ndarray]:
        change = np.round(self.watermarker.change(frame, self.output_id, VIDEO_SIDE))
        # As two 8-bit pictures, what is added and what is taken away: two saturating 8-bit passes a
        # frame cost a seventh of one pass in floating point.
        return np.clip(change, 0, 255).astype(np.uint8), np.clip(-change, 0, 255).astype(np.uint8)

    def mark(self, frame: FrameBGR) -> FrameBGR:
        if min(frame.shape[:2]) < SMALLEST_SIDE:
            return frame
        if self._change is None or self._change[0].shape != frame.shape:
            self._change, self._pending = self._worked_out(frame), None
        elif self._index % VIDEO_REFRESH == 0:
            self._pending = (self._index + VIDEO_LEAD, self._worker.submit(self._worked_out, frame.copy()))
        if self._pending is not None and self._index >= self._pending[0]:
            self._change, self._pending = self._pending[1].result(), None
        self._index += 1
        return cv2.subtract(cv2.add(frame, self._change[0]), self._change[1])

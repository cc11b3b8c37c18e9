"""The invisible watermark every output carries: 32 bits, the product's mark and an output id.

Pictures carry rivaGAN's mark (a learned watermark, MIT; its ONNX encoder and decoder ship in the
``invisible-watermark`` wheel, of which nothing else is used): about 41 dB PSNR (39.5 dB with ``GAIN``),
found again after JPEG at quality 70, WebP, halving the size and cutting 10 % off every edge (measured on
the development photos). The network costs about 170 ms on a 320x180 picture on 2 cores, so it never
sees a whole picture: it marks a copy scaled so its short side is ``IMAGE_SIDE``, and the change it makes
there is enlarged and added to the full-size output. Reading scales the picture the same way, so the
mark survives resizing by construction.

Video frames carry a still pattern instead (``VideoMarker``): rivaGAN's change only reads on the picture
it was worked out on, and working it out for every frame would cost 100 ms a frame.

The payload is 32 bits: the product's 12-bit mark and a 20-bit output id (logged with the run), split in
two halves of 16 bits (for rivaGAN, the two halves of the picture across its longer side; for the video
pattern, two sets of carriers), each coded with the Reed-Muller code RM(2,5) into 32 bits, so up to 3
wrong bits in a half are mended. A reading counts as marked when its first half decodes within 3 errors
to the product's mark, which a reading of a file without the mark does about once in 50,000 (8 % of
random bit patterns lie within 3 bits of one of the 65,536 codewords, and one in 4096 of those carries
the mark); the id is read when the second half decodes too. ``read`` tries up to 4 readings of a picture
and one of a video.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

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
READ_SCALES = (1.0, 0.8, 1.25)
"""Around the side the mark was made at, the scales read: a picture cut down by 10 % at every edge, or
enlarged or shrunk on the way."""
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


@cache
def _codebook_as_float() -> np.ndarray:
    """The codebook as float64, converted once (converting it on each reading took most of its 5 ms)."""
    return codebook().astype(np.float64)


def decode_half(logits: np.ndarray) -> tuple[int, int]:
    """(most likely 16-bit value, bit errors against its codeword) for the decoder's 32 logits."""
    # A set bit is a -1 in the codebook and a positive logit.
    value = int(np.argmax(_codebook_as_float() @ -np.tanh(np.asarray(logits, np.float64) / 2)))
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
    def encoder(self) -> Any:
        """An onnxruntime session (untyped: onnxruntime publishes no types)."""
        return self._session(ENCODER_FILE)

    @cached_property
    def decoder(self) -> Any:
        return self._session(DECODER_FILE)

    def change(self, frame: FrameBGR, output_id: int, side: int) -> np.ndarray:
        """What marking adds to ``frame`` (float32, the frame's size): worked out on the copy whose short side is
        ``side``, one half of it (split across its longer side) at a time, then enlarged."""
        small = _scaled(frame, side)
        difference = np.empty(small.shape, np.float32)
        for window, value in zip(_halves(small.shape), halves_of(output_id)):
            part = np.ascontiguousarray(small[window])
            marked = self.encoder.run(None, {"frame": _network_input(part),
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
        first, second = (self.decoder.run(None, {"frame": _network_input(np.ascontiguousarray(scaled[window]))})[0][0]
                         for window in _halves(scaled.shape))
        return first, second

    def read_picture(self, picture: FrameBGR) -> MarkReading:
        """rivaGAN's reading of a picture: the side its mark is made at, tried at each of ``READ_SCALES``
        until one gives the product's mark with an id; else the best reading."""
        if min(picture.shape[:2]) < SMALLEST_SIDE:
            return MarkReading(False, None, 0.0)
        readings = []
        for scale in READ_SCALES:
            reading = reading_of(*self.outputs(picture, round(IMAGE_SIDE * scale)))
            if reading.output_id is not None:
                return reading
            readings.append(reading)
        return max(readings, key=lambda reading: (reading.marked, reading.confidence))

    def read(self, frames: list[FrameBGR], video: bool = False) -> MarkReading:
        """The reading of ``frames``: one picture (rivaGAN's mark, else a video frame's pattern: a still
        taken from a marked video), or frames sampled from a video (the pattern)."""
        if video:
            return read_pattern(frames)
        picture = self.read_picture(frames[0])
        if picture.output_id is not None:
            return picture
        still = read_pattern(frames[:1])
        return still if (still.marked, still.output_id is not None) > (picture.marked, False) else picture


PATTERN_CELLS = 72
"""Cells across a video frame's short side in the video mark's pattern (10 px at 720p). Finer cells carry
more (more cells to average over) but are lost to compression and halving sooner: at 54 a halved clip of
the development set lost its id, at 36 nothing was read at all."""
PATTERN_LEVELS = 3.0
"""Strength of the video mark: the pattern's spread in 8-bit levels (about 42 dB PSNR)."""
RESIDUAL_SPREAD = 1.0
"""Cells (Gaussian sigma) over which a residual's local power is measured. A wide window (3, as before)
let busy texture next to flat skin swamp it: a still group photo through CRF 28 lost every id; at 1.0 none
of 32 readings of the hard clips failed (bench/watermark_robustness.py)."""
PATTERN_DECOYS = 64
"""Patterns that carry nothing: what a frame correlates with them tells how large chance correlations are."""


def pattern_grid(shape: tuple[int, ...]) -> tuple[int, int]:
    """(columns, rows) of the video mark's cells for a frame of ``shape``: the frame's own proportions, so a
    resized copy has the same grid."""
    height, width = shape[:2]
    if width >= height:
        return max(1, round(PATTERN_CELLS * width / height)), PATTERN_CELLS
    return PATTERN_CELLS, max(1, round(PATTERN_CELLS * height / width))


@cache
def _chips(grid: tuple[int, int]) -> np.ndarray:
    """2 x 32 carrier patterns (one per coded bit of each half) then the decoys: +1/-1 per cell, the same for
    every run (a fixed seed per grid)."""
    generator = np.random.default_rng(20261202 + 1000 * grid[0] + grid[1])
    return generator.choice(np.array([-1.0, 1.0], np.float32), size=(2 * BITS + PATTERN_DECOYS, grid[1], grid[0]))


_NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.float32) / 8


def _high_pass(cells: np.ndarray) -> np.ndarray:
    """What a cell has that its eight neighbours do not predict: a picture's cells follow their neighbours,
    the pattern's do not, so this keeps the pattern and little of the picture."""
    return cells - cv2.filter2D(cells, -1, _NEIGHBOURS, borderType=cv2.BORDER_REFLECT)


@cache
def _templates(grid: tuple[int, int]) -> np.ndarray:
    return np.stack([_high_pass(chip) for chip in _chips(grid)])


def _pattern_residual(frame: FrameBGR) -> np.ndarray:
    """A frame's lightness per cell with what its neighbours predict taken away, each cell weighted by the
    inverse of the residual's local power (the weighting that makes a correlation most telling when the
    picture's leftovers vary from place to place): busy texture, which a still talking head does not
    average away over frames, counts for little, flat skin and sky for much."""
    lightness = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    residual = _high_pass(cv2.resize(lightness, pattern_grid(frame.shape), interpolation=cv2.INTER_AREA))
    return residual / (cv2.GaussianBlur(residual * residual, (0, 0), RESIDUAL_SPREAD) + 1.0)


def read_pattern(frames: list[FrameBGR]) -> MarkReading:
    """The video mark's reading of ``frames`` (of one size), their residuals averaged: moving content
    averages away, the still pattern adds up."""
    usable = [frame for frame in frames if min(frame.shape[:2]) >= SMALLEST_SIDE]
    if not usable:
        return MarkReading(False, None, 0.0)
    residual = np.mean([_pattern_residual(frame) for frame in usable if frame.shape == usable[0].shape], axis=0)
    correlations = np.tensordot(_templates(pattern_grid(usable[0].shape)), residual, axes=([1, 2], [0, 1]))
    # In units of the decoys' spread; a set bit is a -1 in the codebook and, as for rivaGAN, a positive logit.
    logits = -correlations[:2 * BITS] / (correlations[2 * BITS:].std() + 1e-9)
    return reading_of(logits[:BITS], logits[BITS:])


class VideoMarker:
    """Marks video frames with a still pattern: a sum of 64 random carrier patterns of coarse cells, each
    signed by one coded bit of the two halves' codewords (the same payload and code as a picture's mark),
    smoothly enlarged, added to the lightness.

    Why not rivaGAN for video: its change follows the picture it was worked out on and no longer reads once
    the picture has moved (on the development clips, 16 to 48 frames later), and working it out costs 100 ms
    a frame. The still pattern costs two saturating 8-bit passes a frame, is the same on every frame (a
    resumed run writes what an uninterrupted one writes), and motion helps reading it: the picture averages
    away over the frames read while the pattern adds up."""

    def __init__(self, output_id: int) -> None:
        self.output_id = output_id
        self._planes: tuple[tuple[int, ...], np.ndarray, np.ndarray] | None = None

    def planes(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """What is added to and taken away from a frame of ``shape`` (uint8, as two saturating passes cost a
        seventh of one in floating point)."""
        if self._planes is None or self._planes[0] != shape:
            first, second = halves_of(self.output_id)
            signs = np.concatenate([codebook()[first], codebook()[second]]).astype(np.float32)
            cells = np.tensordot(signs, _chips(pattern_grid(shape))[:2 * BITS], axes=1) / np.sqrt(2 * BITS)
            change = np.round(cv2.resize(cells, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR) * PATTERN_LEVELS)
            change = np.repeat(change[:, :, None], shape[2] if len(shape) > 2 else 1, axis=2)
            self._planes = (shape, np.clip(change, 0, 255).astype(np.uint8), np.clip(-change, 0, 255).astype(np.uint8))
        return self._planes[1], self._planes[2]

    def mark(self, frame: FrameBGR) -> FrameBGR:
        if min(frame.shape[:2]) < SMALLEST_SIDE:
            return frame
        add, take = self.planes(frame.shape)
        return cv2.subtract(cv2.add(frame, add), take)

"""Neural enhancers: faces (GFPGAN-class models on aligned crops) and whole frames (Real-ESRGAN-class
models over overlapping tiles blended smoothly across their overlaps)."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..analysis.align import box_mask, paste_back, warp_face
from ..errors import StoppedError
from ..inference.batching import BatchedSession, stoppable
from ..inference.catalogue import Contract
from ..inference.runtime import SessionPool
from ..types import Face, FrameBGR
from .masks import OcclusionMasker


@dataclass
class FaceEnhancerModel:
    path: Path
    contract: Contract
    pool: SessionPool
    blend: float = 0.8
    """Share of the enhanced face in the result (0..1)."""
    weight: float = 0.5
    """CodeFormer's fidelity weight, for models with a ``weight`` input."""
    occlusion: OcclusionMasker | None = None
    """What covers the face (a hand, a microphone) is left as it is."""
    mask_blur: float = 0.3

    def enhance(self, frame: FrameBGR, face: Face) -> FrameBGR:
        return self.enhance_many(frame, [face])

    def enhance_many(self, frame: FrameBGR, faces: list[Face]) -> FrameBGR:
        """Restore every face: one model run for all of them (shared with other threads' faces) when
        the model takes a batch, else one run a face."""
        if not faces:
            return frame
        size = self.contract.size or 512
        crops, matrices = zip(*(warp_face(frame, face.landmarks_5, self.contract.template or "ffhq_512", size)
                                for face in faces))
        session = self.pool.batched(self.path)
        mean, std = np.array(self.contract.mean, np.float32), np.array(self.contract.std, np.float32)
        blobs = np.stack([((crop[:, :, ::-1].astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)
                          for crop in crops])
        feed = {self.contract.inputs[0].name: np.ascontiguousarray(blobs)}
        # CodeFormer-style files take a fidelity weight too (a user's own file may have one as well).
        if any(item.name == "weight" for item in session.get_inputs()):
            feed["weight"] = np.array([self.weight], np.float64)
        outputs = session.run(feed)[0]
        box = box_mask(size, self.mask_blur) * self.blend
        for crop, output, matrix in zip(crops, outputs, matrices):
            restored = output.transpose(1, 2, 0) * std + mean
            enhanced = (np.clip(restored, 0, 1)[:, :, ::-1] * 255 + 0.5).astype(np.uint8)
            mask = box if self.occlusion is None else np.minimum(box, self.occlusion.mask(crop) * self.blend)
            frame = paste_back(frame, enhanced, mask, matrix)
        return frame


def _tile_weight(height: int, width: int, overlap: int) -> np.ndarray:
    """Weights rising linearly across the overlap on every side, so neighbouring tiles cross-fade
    instead of meeting at a hard seam."""
    ramps = []
    for length in (height, width):
        ramp = np.ones(length, np.float32)
        if overlap > 0:
            steps = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
            ramp[:overlap] = steps
            ramp[-overlap:] = steps[::-1]
        ramps.append(ramp)
    return np.outer(*ramps)


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles of ``tile`` start along ``length``, neighbours sharing at least 2 x ``overlap``."""
    stride = max(1, tile - 2 * overlap)
    starts = list(range(0, max(length - tile, 0) + 1, stride))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


BORDER = 8
"""Pixels of reflected picture added around a frame before it is upscaled: the networks pad their
convolutions with zeros, which darkens the outermost pixels; with a reflected border they see the
picture continue, as it does inside (the border is cut off again afterwards)."""


@dataclass
class FrameEnhancerModel:
    path: Path
    contract: Contract
    pool: SessionPool
    tile: int = 256
    overlap: int = 32
    blend: float = 0.8
    downscale: int = 1
    """The network's output is shrunk by this factor with an area average (an x2 from an x4 network)."""

    @property
    def scale(self) -> int:
        return self.contract.scale // self.downscale

    def enhance(self, frame: FrameBGR, stop: threading.Event | None = None) -> FrameBGR:
        """The enlarged frame; ``stop`` set while it runs ends it between tiles (StoppedError)."""
        height, width = frame.shape[:2]
        enlarged = self.upscale(cv2.copyMakeBorder(frame, BORDER, BORDER, BORDER, BORDER, cv2.BORDER_REFLECT_101),
                                stop)
        factor = self.contract.scale
        enlarged = enlarged[BORDER * factor:(BORDER + height) * factor, BORDER * factor:(BORDER + width) * factor]
        size = (width * self.scale, height * self.scale)
        if self.downscale > 1:
            enlarged = cv2.resize(enlarged, size, interpolation=cv2.INTER_AREA)
        base = cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
        return np.clip(base * (1 - self.blend) + enlarged * self.blend + 0.5, 0, 255).astype(np.uint8)

    def _layout(self, height: int, width: int) -> tuple[int, int, int, list[int], list[int]]:
        """How a frame of height x width is cut into tiles: (tile height, tile width, overlap, tile rows'
        starts, tile columns' starts), on the frame padded up to a whole tile where it is smaller."""
        session = self.pool.batched(self.path)
        # A frame smaller than a tile is padded up to a whole tile for files exported for a fixed tile
        # size (they take nothing else); a file with free height and width gets the frame as it is.
        tile_h = tile_w = self.tile
        if any(isinstance(dim, str) or dim is None for dim in session.get_inputs()[0].shape[2:]):
            tile_h, tile_w = min(tile_h, height), min(tile_w, width)
        overlap = min(self.overlap, (min(tile_h, tile_w) - 1) // 2)
        ys = _tile_starts(max(height, tile_h), tile_h, overlap)
        xs = _tile_starts(max(width, tile_w), tile_w, overlap)
        return tile_h, tile_w, overlap, ys, xs

    def network_pixels(self, height: int, width: int) -> int:
        """Pixels the network runs on to enhance a frame of height x width (tiles, their overlaps and
        the reflected border included): what its cost grows with."""
        tile_h, tile_w, _, ys, xs = self._layout(height + 2 * BORDER, width + 2 * BORDER)
        return tile_h * tile_w * len(ys) * len(xs)

    def upscale(self, frame: FrameBGR, stop: threading.Event | None = None) -> np.ndarray:
        """The network's output for the whole frame (float BGR 0..255, ``contract.scale`` times larger),
        run over overlapping tiles that cross-fade."""
        scale = self.contract.scale
        height, width = frame.shape[:2]
        session = self.pool.batched(self.path)
        tile_h, tile_w, overlap, ys, xs = self._layout(height, width)
        padded = cv2.copyMakeBorder(frame, 0, max(0, tile_h - height), 0, max(0, tile_w - width),
                                    cv2.BORDER_REFLECT_101)
        pad_h, pad_w = padded.shape[:2]
        out = np.zeros((pad_h * scale, pad_w * scale, 3), np.float32)
        weights = np.zeros((pad_h * scale, pad_w * scale, 1), np.float32)
        weight = _tile_weight(tile_h * scale, tile_w * scale, overlap * scale)[..., None]
        name = self.contract.inputs[0].name
        corners = [(y, x) for y in ys for x in xs]
        # A few tiles a run: batched where the model allows, without holding every enlarged tile at once.
        per_run = self.pool.settings.max_batch
        for first in range(0, len(corners), per_run):
            if stop is not None and stop.is_set():
                raise StoppedError("stopped by the user")
            group = corners[first:first + per_run]
            pieces = np.stack([padded[y:y + tile_h, x:x + tile_w, ::-1].transpose(2, 0, 1) for y, x in group])
            results = _run(session, {name: np.ascontiguousarray(pieces, dtype=np.float32) / 255.0}, stop)
            for (y, x), result in zip(group, results):
                result = np.clip(result.transpose(1, 2, 0)[:, :, ::-1], 0, 1) * 255
                out[y * scale:(y + tile_h) * scale, x * scale:(x + tile_w) * scale] += result * weight
                weights[y * scale:(y + tile_h) * scale, x * scale:(x + tile_w) * scale] += weight
        return (out / np.maximum(weights, 1e-6))[:height * scale, :width * scale]


def _run(session: BatchedSession, feed: dict[str, np.ndarray], stop: threading.Event | None) -> np.ndarray:
    """The first output of one run that ``stop`` ends at once (StoppedError), even mid-run."""
    with stoppable(stop) as run_options:
        try:
            return session.run(feed, run_options)[0]
        except Exception:
            if stop is not None and stop.is_set():
                raise StoppedError("stopped by the user") from None
            raise

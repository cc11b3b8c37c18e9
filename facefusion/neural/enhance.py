"""Neural enhancers: faces (GFPGAN-class models on aligned crops) and whole frames (Real-ESRGAN-class
models over overlapping tiles blended smoothly across their overlaps)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..inference.catalogue import Contract
from ..inference.runtime import SessionPool
from ..types import Face, FrameBGR
from ..analysis.align import box_mask, paste_back, warp_face
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


def _tile_weight(tile: int, overlap: int) -> np.ndarray:
    """Weights rising linearly across the overlap on every side, so neighbouring tiles cross-fade
    instead of meeting at a hard seam."""
    ramp = np.ones(tile, np.float32)
    if overlap > 0:
        steps = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        ramp[:overlap] = steps
        ramp[-overlap:] = steps[::-1]
    return np.outer(ramp, ramp)


@dataclass
class FrameEnhancerModel:
    path: Path
    contract: Contract
    pool: SessionPool
    tile: int = 256
    overlap: int = 32
    blend: float = 0.8

    @property
    def scale(self) -> int:
        return self.contract.scale

    def enhance(self, frame: FrameBGR) -> FrameBGR:
        scale = self.scale
        height, width = frame.shape[:2]
        # A frame smaller than a tile is padded up to a whole tile: files exported for a fixed tile size
        # take nothing else, and every frame then sees the model at the same input size.
        tile = self.tile
        stride = max(1, tile - 2 * self.overlap)
        padded = cv2.copyMakeBorder(frame, 0, max(0, tile - height), 0, max(0, tile - width), cv2.BORDER_REFLECT_101)
        pad_h, pad_w = padded.shape[:2]
        ys = list(range(0, max(pad_h - tile, 0) + 1, stride))
        xs = list(range(0, max(pad_w - tile, 0) + 1, stride))
        if ys[-1] + tile < pad_h:
            ys.append(pad_h - tile)
        if xs[-1] + tile < pad_w:
            xs.append(pad_w - tile)
        out = np.zeros((pad_h * scale, pad_w * scale, 3), np.float32)
        weights = np.zeros((pad_h * scale, pad_w * scale, 1), np.float32)
        weight = _tile_weight(tile * scale, self.overlap * scale)[..., None]
        session = self.pool.batched(self.path)
        name = self.contract.inputs[0].name
        corners = [(y, x) for y in ys for x in xs]
        # A few tiles a run: batched where the model allows, without holding every enlarged tile at once.
        per_run = self.pool.settings.max_batch
        for first in range(0, len(corners), per_run):
            group = corners[first:first + per_run]
            pieces = np.stack([padded[y:y + tile, x:x + tile, ::-1].transpose(2, 0, 1) for y, x in group])
            results = session.run({name: np.ascontiguousarray(pieces, dtype=np.float32) / 255.0})[0]
            for (y, x), result in zip(group, results):
                result = np.clip(result.transpose(1, 2, 0)[:, :, ::-1], 0, 1) * 255
                out[y * scale:(y + tile) * scale, x * scale:(x + tile) * scale] += result * weight
                weights[y * scale:(y + tile) * scale, x * scale:(x + tile) * scale] += weight
        enhanced = (out / np.maximum(weights, 1e-6))[:height * scale, :width * scale]
        base = cv2.resize(frame, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        return np.clip(base * (1 - self.blend) + enhanced * self.blend + 0.5, 0, 255).astype(np.uint8)

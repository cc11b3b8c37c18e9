"""Masks from models, for the neural engine: occlusion (XSeg: what covers the face) and face regions
(BiSeNet face parsing). Both work on the aligned crop and are combined with the box mask (minimum)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..inference.catalogue import Contract
from ..inference.runtime import SessionPool
from ..types import FrameBGR, Mask

REGION_CLASSES = {"skin": 1, "left-eyebrow": 2, "right-eyebrow": 3, "left-eye": 4, "right-eye": 5, "glasses": 6,
                  "nose": 10, "mouth": 11, "upper-lip": 12, "lower-lip": 13}


HARDEN_SIGMA = 5.0
"""Blur (px of the crop, whatever its size) before the edge is pulled in, as FaceFusion does it."""


def _harden(mask: Mask) -> Mask:
    """Soften, then pull the soft edge inside the region: a mask that errs toward showing the target."""
    mask = cv2.GaussianBlur(mask.clip(0, 1), (0, 0), HARDEN_SIGMA)
    return ((mask.clip(0.5, 1) - 0.5) * 2).astype(np.float32)


def _model_input(crop: FrameBGR, size: int) -> np.ndarray:
    """The crop at the model's size, resized bilinearly: INTER_AREA enlarges a small crop (128 px
    swaps) blockily, as nearest neighbour would, and the model then sees stairs along every edge."""
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)


@dataclass
class OcclusionMasker:
    path: Path
    contract: Contract
    pool: SessionPool

    def mask(self, crop: FrameBGR) -> Mask:
        size = self.contract.size or 256
        small = _model_input(crop, size).astype(np.float32) / 255.0
        session = self.pool.batched(self.path)
        output = session.run({self.contract.inputs[0].name: small[None]})[0][0]
        mask = cv2.resize(output.reshape(size, size).astype(np.float32), crop.shape[1::-1],
                          interpolation=cv2.INTER_LINEAR)
        return _harden(mask)


@dataclass
class RegionMasker:
    path: Path
    contract: Contract
    pool: SessionPool
    regions: tuple[str, ...]

    def mask(self, crop: FrameBGR) -> Mask:
        size = self.contract.size or 512
        rgb = _model_input(crop, size)[:, :, ::-1].astype(np.float32) / 255.0
        blob = (rgb - np.array(self.contract.mean, np.float32)) / np.array(self.contract.std, np.float32)
        session = self.pool.batched(self.path)
        logits = session.run({self.contract.inputs[0].name: np.ascontiguousarray(blob.transpose(2, 0, 1)[None])})[0][0]
        classes = logits.argmax(axis=0)
        selected = np.isin(classes, [REGION_CLASSES[name] for name in self.regions]).astype(np.float32)
        return _harden(cv2.resize(selected, crop.shape[1::-1], interpolation=cv2.INTER_LINEAR))

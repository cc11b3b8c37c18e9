"""A face's apparent age from FairFace (a catalogue model, CC-BY-4.0): what the fran age modifier starts from."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..inference.catalogue import Contract
from ..inference.runtime import SessionPool
from ..types import Face, FrameBGR
from .align import warp_face

AGE_MIDDLES = (0.5, 5.5, 14.0, 24.0, 34.0, 44.0, 54.0, 64.0, 84.5)
"""The middle of each of FairFace's age groups (0-1, 3-8, 10-18, 20-28, ... 60-68, 70-99), in years."""


class FaceClassifier:
    """FairFace: race, gender and age-group ids out of a 224 crop; only the age is read here."""

    def __init__(self, path: Path, contract: Contract, pool: SessionPool) -> None:
        self.contract = contract
        self._session = pool.session(path)

    def age(self, frame: FrameBGR, face: Face) -> float:
        """The middle of the face's age group, in years."""
        size = self.contract.size or 224
        crop, _ = warp_face(frame, face.landmarks_5, self.contract.template or "arcface_112_v2", size)
        mean, std = np.array(self.contract.mean, np.float32), np.array(self.contract.std, np.float32)
        blob = ((crop[:, :, ::-1].astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)[None]
        outputs = self._session.run(None, {self.contract.inputs[0].name: np.ascontiguousarray(blob)})
        group = int(np.asarray(outputs[2]).ravel()[0])  # outputs: race, gender, age group
        return AGE_MIDDLES[min(max(group, 0), len(AGE_MIDDLES) - 1)]

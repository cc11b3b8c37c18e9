"""Age models: a face made older or younger on an aligned crop, pasted back inside a soft box.

Two contracts, as FaceFusion's age modifier feeds them (inputs by name, the output's size read from the output):

- fran (MIT): the ``ffhq_512`` crop at 1024, RGB 0..1; ``direction`` is [the face's age, the age wanted] / 100,
  clipped to 0..1; a file that declares ``target_with_background`` gets the same crop there.
- styleganex_age (NON-COMMERCIAL): the ``ffhq_512`` crop at 256 and a wider one with background (the landmarks
  drawn 0.875 toward the nose, template ``styleganex_384``, 384), both RGB in -1..1; ``direction`` is the slider
  mapped from -100..100 to 2.5..-2.5; its output (larger than the wide crop) has its colours matched to that crop
  at several scales before it is pasted back.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..analysis.align import box_mask, paste_back, warp_face
from ..inference.catalogue import Contract
from ..inference.runtime import SessionPool
from ..types import Face, FrameBGR, Points
from .masks import OcclusionMasker


def _blob(crop: FrameBGR, mean: float, std: float) -> np.ndarray:
    return np.ascontiguousarray(((crop[:, :, ::-1].astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)[None])


def _picture(output: np.ndarray, mean: float, std: float) -> FrameBGR:
    """A model's 3 x H x W RGB output, undone from its normalisation, as a BGR picture."""
    values = np.clip(output.transpose(1, 2, 0) * std + mean, 0.0, 1.0)
    return (values[:, :, ::-1] * 255 + 0.5).astype(np.uint8)


def matched_colours(reference: FrameBGR, picture: FrameBGR) -> FrameBGR:
    """``picture``'s colours brought to ``reference``'s (same size) from coarse to fine: at each of four scales
    the difference of the two, averaged down to that scale, is added back enlarged (the model's output keeps its
    detail and takes the crop's lighting)."""
    size = picture.shape[0]
    result = picture.astype(np.float32)
    target = reference.astype(np.float32)
    for scale in [*np.linspace(16, size, 3, endpoint=False).astype(int), size]:
        small = (int(scale), int(scale))
        difference = cv2.resize(target, small, interpolation=cv2.INTER_AREA) - \
            cv2.resize(result, small, interpolation=cv2.INTER_AREA)
        result += cv2.resize(difference, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(result + 0.5, 0, 255).astype(np.uint8)


@dataclass
class AgeModel:
    path: Path
    contract: Contract
    pool: SessionPool
    mask_blur: float = 0.3
    occlusion: OcclusionMasker | None = None
    """What covers the face (a hand, a microphone) is left as it is."""

    @property
    def styleganex(self) -> bool:
        """The two-crop contract (a wide crop of its own) rather than fran's one crop."""
        return any(item.name == "target_with_background" for item in self.contract.inputs)

    def change(self, frame: FrameBGR, face: Face, age: float, direction: int) -> FrameBGR:
        """``face`` made ``direction`` (-100..100) older, its current ``age`` (years) as fran needs it."""
        session = self.pool.session(self.path)
        if self.styleganex:
            return self._styleganex(session, frame, face.landmarks_5, direction)
        return self._fran(session, frame, face.landmarks_5, age, direction)

    def _fran(self, session: Any, frame: FrameBGR, landmarks: Points, age: float, direction: int) -> FrameBGR:
        size = self.contract.size or 1024
        crop, matrix = warp_face(frame, landmarks, self.contract.template or "ffhq_512", size)
        blob = _blob(crop, 0.0, 1.0)
        ages = np.clip(np.array([age, age + direction], np.float32) / 100.0, 0.0, 1.0)
        feed = {"target": blob, "direction": ages}
        if any(item.name == "target_with_background" for item in session.get_inputs()):
            feed["target_with_background"] = blob
        aged = _picture(np.asarray(session.run(None, feed)[0][0]), 0.0, 1.0)
        return self._paste(frame, aged, matrix, size, crop)

    def _styleganex(self, session: Any, frame: FrameBGR, landmarks: Points, direction: int) -> FrameBGR:
        crop, _ = warp_face(frame, landmarks, "ffhq_512", self.contract.size or 256)
        wide_points = (landmarks - landmarks[2]) * 0.875 + landmarks[2]
        wide, wide_matrix = warp_face(frame, wide_points.astype(np.float32), "styleganex_384", 384)
        declared = next(item.shape for item in session.get_inputs() if item.name == "direction")
        value = np.interp(direction, [-100, 100], [2.5, -2.5])  # older is a negative step in its latent space
        # A scalar as the published file declares it; a one-element vector as older exports do.
        shape = tuple(size if isinstance(size, int) else 1 for size in declared)
        feed = {"target": _blob(crop, 0.5, 0.5), "target_with_background": _blob(wide, 0.5, 0.5),
                "direction": np.full(shape, value, np.float32)}
        aged = _picture(np.asarray(session.run(None, feed)[0][0]), 0.5, 0.5)
        out = aged.shape[0]
        reference = cv2.resize(wide, (out, out), interpolation=cv2.INTER_CUBIC)
        scaled = wide_matrix * (out / 384)
        return self._paste(frame, matched_colours(reference, aged), scaled, out, reference)

    def _paste(self, frame: FrameBGR, picture: FrameBGR, matrix: np.ndarray, crop_size: int, crop: FrameBGR
               ) -> FrameBGR:
        """``crop``: what the model was given, at ``crop_size`` (the occlusion mask is read there)."""
        size = picture.shape[0]
        if size != crop_size:
            # The output's own size decides; the matrix follows it.
            matrix = matrix * (size / crop_size)
        mask = box_mask(size, self.mask_blur)
        if self.occlusion is not None:
            covered = self.occlusion.mask(crop)
            mask = np.minimum(mask, covered if covered.shape[0] == size else cv2.resize(covered, (size, size)))
        return paste_back(frame, picture, mask, matrix)

"""Neural face swap with an inswapper-contract ONNX model (inswapper_128 and files of that shape).

Source identity = the ArcFace embedding of the source faces (L2-normalised, averaged), projected by the
model's "emap" matrix (its last initializer) when it has one. Each target face is aligned to the
model's template (arcface_128), run through the model (at higher resolution with pixel boost: the
crop is split into interleaved model-size parts and reassembled) and pasted back under a soft box mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from ..inference.catalogue import Contract
from ..inference.runtime import SessionPool
from ..types import Face, FrameBGR, Identity, Points
from .align import box_mask, depth_to_space, paste_back, space_to_depth, warp_face


def _blob(crop: FrameBGR, mean: tuple[float, ...], std: tuple[float, ...], scale: float = 1 / 255) -> np.ndarray:
    rgb = crop[:, :, ::-1].astype(np.float32) * scale
    rgb = (rgb - np.array(mean, np.float32)) / np.array(std, np.float32)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])


@dataclass
class ArcFace:
    """ArcFace recogniser (arcface_w600k_r50 contract): 112x112 aligned crop -> 512-d embedding."""

    path: Path
    contract: Contract
    pool: SessionPool

    def embed(self, image: FrameBGR, landmarks_5: Points) -> np.ndarray:
        crop, _ = warp_face(image, landmarks_5, self.contract.template or "arcface_112_v2", self.contract.size or 112)
        session = self.pool.session(self.path)
        blob = _blob(crop, self.contract.mean, self.contract.std, scale=1.0)
        embedding = session.run(None, {session.get_inputs()[0].name: blob})[0].reshape(-1).astype(np.float32)
        return embedding / (np.linalg.norm(embedding) + 1e-9)


@dataclass
class InswapperModel:
    path: Path
    contract: Contract
    pool: SessionPool
    arcface: ArcFace
    pixel_boost: int = 128
    mask_blur: float = 0.3
    mask_padding: tuple[int, int, int, int] = (0, 0, 0, 0)

    @cached_property
    def emap(self) -> np.ndarray | None:
        """The model's 512x512 projection of source embeddings (its last initializer), if it has one."""
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(self.path), load_external_data=False)
        if not model.graph.initializer:
            return None
        last = numpy_helper.to_array(model.graph.initializer[-1])
        return last.astype(np.float32) if last.shape == (512, 512) else None

    def source_latent(self, identity: Identity) -> np.ndarray:
        embeddings = [self.arcface.embed(source.image, source.face.landmarks_5) for source in identity.faces]
        embedding = np.mean(embeddings, axis=0)
        embedding /= np.linalg.norm(embedding) + 1e-9
        latent = embedding @ self.emap if self.emap is not None else embedding
        return latent.reshape(1, -1).astype(np.float32)

    def swap(self, frame: FrameBGR, target: Face, latent: np.ndarray) -> FrameBGR:
        size = self.contract.size or 128
        boost = max(size, self.pixel_boost)
        crop, matrix = warp_face(frame, target.landmarks_5, self.contract.template or "arcface_128", boost)
        session = self.pool.session(self.path)
        names = {item.name for item in session.get_inputs()}
        outputs = []
        for part in space_to_depth(crop, size):
            feed = {"target": _blob(part, self.contract.mean, self.contract.std), "source": latent}
            result = session.run(None, {name: value for name, value in feed.items() if name in names})[0][0]
            rgb = np.clip(result.transpose(1, 2, 0) * np.array(self.contract.std) + np.array(self.contract.mean), 0, 1)
            outputs.append((rgb[:, :, ::-1] * 255).astype(np.float32))
        swapped = depth_to_space(outputs, boost // size)
        swapped = np.clip(swapped + 0.5, 0, 255).astype(np.uint8)
        mask = box_mask(boost, self.mask_blur, self.mask_padding)
        return paste_back(frame, swapped, mask, matrix)

"""Neural face swap with embedding-driven models: inswapper (and files of its shape), hyperswap, simswap.

Source identity = the ArcFace embedding of the source faces, averaged, then shaped for the model:
inswapper projects the normalised embedding by its "emap" matrix (its last initializer), hyperswap
takes the normalised embedding, simswap passes the raw one through its converter model. ``weight``
mixes a little of the target's own identity in (0.5: none; 0: 35 % toward the target; 1: 35 % away). Each target face is aligned to the
model's template (arcface_128), run through the model (at higher resolution with pixel boost: the
crop is split into interleaved model-size parts and reassembled) and pasted back under a soft box mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..analysis.align import box_mask, depth_to_space, paste_back, space_to_depth, to_blob, warp_face
from ..analysis.recognise import ArcFace
from ..inference.catalogue import Contract, find
from ..inference.runtime import SessionPool
from ..types import Face, FrameBGR, Identity
from .masks import OcclusionMasker, RegionMasker

CONVERTER_INPUT = find("crossface_simswap").contract.inputs[0].name


def _normalised(vector: np.ndarray) -> np.ndarray:
    return vector / (np.linalg.norm(vector) + 1e-9)


@dataclass
class EmbeddingSwapper:
    path: Path
    contract: Contract
    pool: SessionPool
    arcface: ArcFace
    kind: str = "inswapper"
    """How the source embedding is shaped: "inswapper", "hyperswap" or "simswap"."""
    converter: Path | None = None
    """simswap's embedding converter model."""
    pixel_boost: int = 128
    weight: float = 0.5
    mask_blur: float = 0.3
    mask_padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    occlusion: OcclusionMasker | None = None
    region: RegionMasker | None = None

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
        raw = [self.arcface.embed(source.image, source.face.landmarks_5) for source in identity.faces]
        if self.kind == "simswap" and self.converter is not None:
            session = self.pool.batched(self.converter)
            converted = session.run({CONVERTER_INPUT: np.mean(raw, axis=0).reshape(1, -1).astype(np.float32)})[0]
            latent = _normalised(converted.reshape(-1))
        elif self.kind == "inswapper" and self.emap is not None:
            latent = _normalised(np.mean(raw, axis=0)) @ self.emap
        else:
            # hyperswap takes the mean of the photos' normalised embeddings (each photo counts the same,
            # however bright or large its face), as FaceFusion averages a person's photos.
            latent = np.mean([_normalised(vector) for vector in raw], axis=0)
        return latent.reshape(1, -1).astype(np.float32)

    def balanced(self, latent: np.ndarray, target_frame: FrameBGR, target: Face) -> np.ndarray:
        """The source latent with some of the target's identity mixed in, as ``weight`` asks. The
        target's identity is read from ``target_frame``, the frame as it was detected: a frame that
        earlier faces or processors have already changed would mix in someone else."""
        mix = 0.35 - 0.7 * self.weight
        if abs(mix) < 1e-6:
            return latent
        own = _normalised(self.arcface.embed(target_frame, target.landmarks_5)).reshape(1, -1)
        return (latent * (1 - mix) + own * mix).astype(np.float32)

    def swap(self, frame: FrameBGR, target: Face, latent: np.ndarray,
             as_detected: tuple[FrameBGR, Face] | None = None) -> FrameBGR:
        """Swap onto ``target`` in ``frame`` (changed in place). ``as_detected``: the analysed frame
        and this face in it, where the target's own identity is read (default: ``frame``)."""
        size = self.contract.size or 128
        latent = self.balanced(latent, *(as_detected or (frame, target)))
        # Pixel boost works in whole multiples of the model's own size.
        boost = max(size, self.pixel_boost // size * size)
        crop, matrix = warp_face(frame, target.landmarks_5, self.contract.template or "arcface_128", boost)
        session = self.pool.batched(self.path)
        parts = space_to_depth(crop, size)
        # Every pixel-boost part in one request: one batched run where the model allows. Inputs go by
        # the names the contract gives them (a file's input order is not part of the contract).
        results = session.run({
            "target": np.concatenate([to_blob(part, self.contract.mean, self.contract.std) for part in parts]),
            "source": np.repeat(latent, len(parts), axis=0)})[0]
        outputs = []
        for result in results:
            # hyperswap answers in its input's range (-1..1); inswapper and simswap in RGB 0..1 (simswap's
            # ImageNet normalisation applies to its input only).
            rgb = result.transpose(1, 2, 0)
            if self.contract.normalised_output:
                rgb = rgb * np.array(self.contract.std) + np.array(self.contract.mean)
            rgb = np.clip(rgb, 0, 1)
            outputs.append((rgb[:, :, ::-1] * 255).astype(np.float32))
        swapped = depth_to_space(outputs, boost // size)
        swapped = np.clip(swapped + 0.5, 0, 255).astype(np.uint8)
        mask = box_mask(boost, self.mask_blur, self.mask_padding)
        if self.occlusion is not None:  # what covers the target face stays in front
            mask = np.minimum(mask, self.occlusion.mask(crop))
        if self.region is not None:  # regions are read on the new face, where they now are
            mask = np.minimum(mask, self.region.mask(swapped))
        return paste_back(frame, swapped, mask, matrix)

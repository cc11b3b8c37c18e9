"""face_swapper: puts each assigned source identity onto its target face.

Two engines behind one processor: the embedded classical swapper (model ``landmark``, always there)
and a neural swapper with inswapper's contract (a catalogue model or the user's own .onnx file).
``auto`` takes the neural one when its files are in the models folder, else the embedded one, and the
processor says which ran and why.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

from ..analysis.pose import head_angles
from ..classical.glasses import without_glasses
from ..classical.highlights import without_shine
from ..classical.swap import TURN_LIMIT, SwapSettings, swap_face, turn_strength
from ..inference.catalogue import INSWAPPER, find
from ..inference.download import models_dir, require
from ..inference.resolve import choose, resolve_model
from ..inference.runtime import SessionPool, execution_settings
from ..neural.swap import ArcFace, EmbeddingSwapper
from ..options import Options, expand_padding
from ..sources import best_source_face
from ..types import Face, FrameBGR, SourceFace
from .base import FrameContext
from .masks import occlusion_masker, region_masker

logger = logging.getLogger("facefusion")

INSWAPPER_MODELS = ("inswapper_128", "inswapper_128_fp16")
"""Catalogue swappers with inswapper's contract, best first (what ``auto`` looks for)."""
UNFITTED = "its landmarks could not be fitted"
CLASSICAL = "landmark (embedded offline engine: mediapipe BlazeFace + Face Mesh, dlib ResNet)"


def swap_settings(options: Options) -> SwapSettings:
    padding = expand_padding(options.face_mask_padding)
    return SwapSettings(morph=options.face_swapper_morph, mask_region=options.face_mask_region,
                        mask_padding=(padding[0], padding[1], padding[2], padding[3]),
                        mask_blur=options.face_mask_blur, blend_method=options.face_swapper_blend_method)


def neural_model(options: Options, folder: Path | None = None,
                 pool: SessionPool | None = None) -> tuple[EmbeddingSwapper | None, str]:
    """The neural swapper the options ask for (None for the classical one) and a sentence saying why."""
    folder = folder or models_dir()
    choice = options.face_swapper_model
    if choice == "landmark":
        return None, f"{CLASSICAL}: chosen"
    arcface_entry = find("arcface_w600k_r50")
    if choice == "auto":
        chosen = choose(INSWAPPER_MODELS, folder, needs=(arcface_entry.name,))
        if chosen is None:
            return None, (f"{CLASSICAL}: no neural swapper in the models folder (`facefusion models download inswapper_128 "
                          "arcface_w600k_r50` adds one)")
        choice = chosen
    kind = "simswap" if choice.startswith("simswap") else "hyperswap" if choice.startswith("hyperswap") else "inswapper"
    resolved = resolve_model(choice, "swapper", "--face-swapper-model", INSWAPPER, folder)
    converter = require(find("crossface_simswap"), folder) if kind == "simswap" else None
    arcface_path = require(arcface_entry, folder)
    padding = expand_padding(options.face_mask_padding)
    pool = pool or SessionPool(execution_settings(options))
    arcface = ArcFace(arcface_path, arcface_entry.contract, pool)
    occlusion, region = occlusion_masker(options, pool, folder), region_masker(options, pool, folder)
    model = EmbeddingSwapper(resolved.path, resolved.contract, pool, arcface, kind=kind, converter=converter,
                             occlusion=occlusion, region=region,
                             pixel_boost=options.face_swapper_pixel_boost, weight=options.face_swapper_weight,
                             mask_blur=options.face_mask_blur, mask_padding=(padding[0], padding[1], padding[2], padding[3]))
    return model, f"face swapper: {resolved.description}, on {', '.join(options.execution_providers)}"


class FaceSwapper:
    name = "face_swapper"
    scale = 1
    needs_source = True
    live_refusal: ClassVar[str | None] = None

    def __init__(self, options: Options, pool: SessionPool | None = None) -> None:
        self.settings = swap_settings(options)
        self.model, self.engine = neural_model(options, pool=pool)
        # What the output is, in IPTC's words: a trained model drew the face, or the source photo's own
        # pixels were composited in.
        self.source_type = "compositeWithTrainedAlgorithmicMedia" if self.model is not None else "composite"
        self.warnings: list[str] = []
        model_masks = [kind for kind in options.face_mask_types if kind != "box"]
        if self.model is None and model_masks:
            self.warnings.append(f"--face-mask-types {' '.join(model_masks)} needs a neural swapper; the offline "
                                 "engine keeps hands and hair out with its own skin test instead")
        self._latents: dict[int, tuple[object, object]] = {}
        """Per identity: (the identity, its latent); the identity is kept so that its id is not reused."""
        self._drawn: dict[int, tuple[SourceFace, SourceFace]] = {}
        """Per source photo: (the photo's face, the face the classical engine draws with: glasses taken off)."""

    @property
    def needs_mesh(self) -> bool:
        """The classical engine draws with the 468-point mesh; the neural one aligns on five points."""
        return self.model is None

    def declines(self, face: Face) -> str | None:
        """The embedded engine leaves a face it has no mesh for, or one turned past ``TURN_LIMIT``."""
        if self.model is not None:
            return None
        if face.mesh is None:
            return UNFITTED
        if turn_strength(face) > 0.0:
            return None
        return (f"turned about {abs(head_angles(face.mesh).yaw):.0f}° to the side, past the embedded engine's "
                f"{TURN_LIMIT:.0f}° limit")

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        for assignment in context.assignments:
            if not assignment.identity.faces:  # selected, but there is no one to put there
                continue
            if self.model is not None:
                key = id(assignment.identity)
                known_latent = self._latents.get(key)
                if known_latent is None or known_latent[0] is not assignment.identity:  # once per identity
                    known_latent = self._latents[key] = (assignment.identity,
                                                         self.model.source_latent(assignment.identity))
                as_detected = None if context.detected is None else (context.detected,
                                                                      context.as_detected(assignment.face))
                frame = self.model.swap(frame, assignment.face, known_latent[1], as_detected)  # type: ignore[arg-type]
            else:
                source = best_source_face(assignment.identity, assignment.face)
                known = self._drawn.get(id(source))
                if known is None or known[0] is not source:  # once per source photo, not per frame
                    known = self._drawn[id(source)] = (source, without_shine(without_glasses(source)))
                source = known[1]
                frame = swap_face(frame, assignment.face, source, self.settings, context.stopwatch)
        return frame

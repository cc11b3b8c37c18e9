"""Which target faces get which source identity, for a frame."""
from __future__ import annotations

from dataclasses import dataclass, field

from .analysis.analyse import FaceAnalyser
from .analysis.select import faces_like, nearest_face, sort_faces
from .options import Options
from .types import Embedding, Face, FrameBGR, Identity


@dataclass(frozen=True)
class Assignment:
    face: Face
    identity: Identity


@dataclass(frozen=True)
class SwapPlan:
    """What stays fixed for a whole run: the identities and how target faces are chosen."""

    default_identity: Identity | None
    by_position: dict[int, Identity] = field(default_factory=dict)
    by_reference: tuple[tuple[Embedding, Identity], ...] = ()
    reference_embedding: Embedding | None = None

    @property
    def needs_embeddings(self) -> bool:
        return bool(self.by_reference) or self.reference_embedding is not None


def assign_faces(frame: FrameBGR, faces: list[Face], plan: SwapPlan, options: Options,
                 analyser: FaceAnalyser) -> tuple[list[Face], list[Assignment]]:
    """Return the faces in the chosen order (with embeddings where they were needed) and the
    assignments: face-map entries first, then the default source by selector mode."""
    ordered = sort_faces(faces, options.face_selector_order)
    if plan.needs_embeddings:
        ordered = [analyser.embed(frame, face) for face in ordered]
    chosen: dict[int, Identity] = {}
    for position, identity in plan.by_position.items():
        if position < len(ordered):
            chosen[position] = identity
    for embedding, identity in plan.by_reference:
        free = [face for index, face in enumerate(ordered) if index not in chosen]
        face, distance = nearest_face(free, embedding)
        if face is not None and distance <= options.reference_face_distance:
            chosen[ordered.index(face)] = identity
    if plan.default_identity is not None:
        mode = options.face_selector_mode
        if mode == "many":
            candidates = list(range(len(ordered)))
        elif mode == "one":
            candidates = [0] if ordered else []
        elif plan.reference_embedding is not None:
            like = faces_like(ordered, plan.reference_embedding, options.reference_face_distance)
            candidates = [ordered.index(face) for face in like]
        else:
            candidates = []
        for index in candidates:
            chosen.setdefault(index, plan.default_identity)
    assignments = [Assignment(face=ordered[index], identity=chosen[index]) for index in sorted(chosen)]
    return ordered, assignments

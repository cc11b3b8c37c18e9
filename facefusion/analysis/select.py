"""Ordering and choosing target faces."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import InvalidInputError
from ..types import Embedding, Face
from .recognise import embedding_distance

_SORT_KEYS: dict[str, tuple[Callable[[Face], float], bool]] = {
    "left-right": (lambda face: float(face.bbox[0]), False),
    "right-left": (lambda face: float(face.bbox[2]), True),
    "top-bottom": (lambda face: float(face.bbox[1]), False),
    "bottom-top": (lambda face: float(face.bbox[3]), True),
    "small-large": (lambda face: face.width * face.height, False),
    "large-small": (lambda face: face.width * face.height, True),
    "best-worst": (lambda face: face.score, True),
    "worst-best": (lambda face: face.score, False),
}


def sort_faces(faces: list[Face], order: str) -> list[Face]:
    if order not in _SORT_KEYS:
        raise InvalidInputError(f"unknown face order '{order}'; use one of {', '.join(_SORT_KEYS)}")
    key, reverse = _SORT_KEYS[order]
    return sorted(faces, key=key, reverse=reverse)


def pick_reference(faces: list[Face], position: int, order: str) -> Face | None:
    """The face at ``position`` in the given order, or None when there are fewer faces."""
    ordered = sort_faces(faces, order)
    return ordered[position] if 0 <= position < len(ordered) else None


def faces_like(faces: list[Face], reference: Embedding, distance: float) -> list[Face]:
    """Faces (with embeddings) whose identity lies within ``distance`` of the reference."""
    return [face for face in faces if face.embedding is not None
            and embedding_distance(face.embedding, reference) <= distance]


def nearest_face(faces: list[Face], reference: Embedding) -> tuple[Face | None, float]:
    """The face closest in identity to the reference, with its distance."""
    best, best_distance = None, float(np.inf)
    for face in faces:
        if face.embedding is None:
            continue
        distance = embedding_distance(face.embedding, reference)
        if distance < best_distance:
            best, best_distance = face, distance
    return best, best_distance

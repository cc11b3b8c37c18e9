"""Protected people: faces an operator says must never be swapped, as source or as target.

The folder holds one photo per person (the entry is named after the file) or a sub-folder per person
with several photos (named after the sub-folder). Faces are matched with the recogniser and distance
scale of reference mode (``--reference-face-distance``): a face within that distance of any photo of an
entry is that entry. The entries' descriptors are cached per folder and recogniser in the user's cache
folder, and worked out again for the photos that were added or changed.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError, RefusedError
from ..media.files import IMAGE_EXTENSIONS
from ..media.image import read_image
from ..types import Embedding, FrameBGR

CACHE_VERSION = 1


@dataclass(frozen=True)
class ProtectedPerson:
    name: str
    embeddings: tuple[Embedding, ...]
    """One per photo."""


def cache_folder() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "facefusion-studio" / "protected"


def protected_photos(folder: Path) -> list[tuple[str, Path]]:
    """(entry name, photo) for every photo of the folder, a sub-folder's photos under the sub-folder's name."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            found += [(path.name, photo) for photo in sorted(path.iterdir())
                      if photo.is_file() and photo.suffix.lower() in IMAGE_EXTENSIONS]
        elif path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            found.append((path.stem, path))
    return found


def _stamp(photo: Path) -> str:
    status = photo.stat()
    return f"{photo}:{status.st_size}:{status.st_mtime_ns}"


def load_protected(folder: str | os.PathLike[str], analyser: object) -> list[ProtectedPerson]:
    """The people of ``folder``, their descriptors made by ``analyser``'s recogniser (from the cache where a
    photo has not changed). A photo without a face is refused: it would protect nobody."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise InvalidInputError(f"--protected-faces: {folder} is not a folder; give a folder of photos of the "
                                "people who must never be swapped")
    photos = protected_photos(root)
    if not photos:
        raise InvalidInputError(f"--protected-faces: {folder} holds no photos (jpg, png, webp, bmp, tiff)")
    recogniser = analyser.recogniser.name  # type: ignore[attr-defined]
    cache_file = cache_folder() / f"{hashlib.sha256(f'{root}|{recogniser}'.encode()).hexdigest()[:24]}.json"
    try:
        cached = json.loads(cache_file.read_text())
        cached = cached["embeddings"] if cached.get("version") == CACHE_VERSION else {}
    except (OSError, ValueError, KeyError):
        cached = {}
    embeddings: dict[str, list[float]] = {}
    people: dict[str, list[Embedding]] = {}
    for name, photo in photos:
        stamp = _stamp(photo)
        if stamp not in cached:
            cached[stamp] = _embedding_of(photo, analyser).tolist()
        embeddings[stamp] = cached[stamp]
        people.setdefault(name, []).append(np.asarray(cached[stamp], np.float32))
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps({"version": CACHE_VERSION, "embeddings": embeddings}))
    except OSError:
        pass  # a read-only home only costs the next run the same work
    return [ProtectedPerson(name, tuple(found)) for name, found in people.items()]


def _embedding_of(photo: Path, analyser: object) -> Embedding:
    frame = read_image(str(photo)).frame
    faces = analyser.analyse(frame)  # type: ignore[attr-defined]
    if not faces:
        raise InvalidInputError(f"--protected-faces: no face found in {photo}; give photos in which the person's "
                                "face is clearly visible")
    largest = max(faces, key=lambda face: face.width * face.height)
    return analyser.embed(frame, largest).embedding  # type: ignore[attr-defined]


def protected_match(people: list[ProtectedPerson], embedding: Embedding | None, distance: float
                    ) -> tuple[str, float] | None:
    """(entry name, distance) of the nearest protected person within ``distance`` of ``embedding``."""
    from ..analysis.recognise import embedding_distance

    if embedding is None:
        return None
    best: tuple[str, float] | None = None
    for person in people:
        nearest = min(embedding_distance(embedding, known) for known in person.embeddings)
        if nearest <= distance and (best is None or nearest < best[1]):
            best = (person.name, nearest)
    return best


def refuse_protected(people: list[ProtectedPerson], embeddings: list[tuple[str, Embedding | None]],
                     distance: float) -> None:
    """Raise RefusedError naming the first protected entry one of ``embeddings`` (what, descriptor) matches."""
    for what, embedding in embeddings:
        match = protected_match(people, embedding, distance)
        if match is not None:
            raise RefusedError(f"refused: {what} shows a protected person ('{match[0]}', identity distance "
                               f"{match[1]:.2f}); this studio does not swap the faces listed in --protected-faces")


def faces_to_check(frame: FrameBGR, faces: list, analyser: object) -> list[Embedding | None]:
    """Descriptors of ``faces`` in ``frame`` (those already known kept)."""
    return [face.embedding if face.embedding is not None else analyser.embed(frame, face).embedding  # type: ignore[attr-defined]
            for face in faces]

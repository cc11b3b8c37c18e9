"""Source identities: one person from one or more photos, and the face map."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analysis.analyse import FaceAnalyser
from .analysis.pose import head_pose
from .errors import InvalidInputError, NoSourceFaceError
from .media.image import read_image
from .types import Face, FrameBGR, Identity, SourceFace

SOURCE_CROP_SCALE = 2.2
"""The source image is kept only around its face, this many times the face's size."""


def _crop_around(frame: FrameBGR, face: Face) -> tuple[FrameBGR, np.ndarray]:
    centre_x, centre_y = face.centre
    half = face.size * SOURCE_CROP_SCALE / 2
    x1, y1 = int(max(0, centre_x - half)), int(max(0, centre_y - half))
    x2, y2 = int(min(frame.shape[1], centre_x + half)), int(min(frame.shape[0], centre_y + half))
    return np.ascontiguousarray(frame[y1:y2, x1:x2]), np.array([x1, y1], np.float32)


def _shift_face(face: Face, offset: np.ndarray) -> Face:
    mesh = face.mesh.copy() if face.mesh is not None else None
    if mesh is not None:
        mesh[:, :2] -= offset
    return dataclasses.replace(face, bbox=face.bbox - np.tile(offset, 2), landmarks_5=face.landmarks_5 - offset,
                               mesh=mesh)


def load_source_face(path: str, analyser: FaceAnalyser, embed: bool = True) -> SourceFace:
    """The largest face of a source photo, with the pixels around it and, with ``embed``, its identity
    descriptor (loading the recogniser costs most of a second, so it is skipped when not needed)."""
    frame = read_image(path).frame
    faces = [face for face in analyser.analyse(frame) if face.mesh is not None]
    if not faces:
        raise NoSourceFaceError(f"no face found in source image {path}; use a photo with a clear, visible face")
    face = max(faces, key=lambda item: item.width * item.height)
    if embed:
        face = analyser.embed(frame, face)
    crop, offset = _crop_around(frame, face)
    yaw, pitch = head_pose(face.mesh)  # type: ignore[arg-type]
    return SourceFace(face=_shift_face(face, offset), image=crop, path=path, yaw=yaw, pitch=pitch)


def load_identity(paths: list[str], analyser: FaceAnalyser, embed: bool = True) -> Identity:
    """One person from several photos: every photo's face is kept (the swapper picks, per target face,
    the one whose pose fits best) and, with ``embed``, their descriptors are averaged into one identity."""
    if not paths:
        raise InvalidInputError("no source image given")
    faces = tuple(load_source_face(path, analyser, embed) for path in paths)
    embeddings = [face.face.embedding for face in faces if face.face.embedding is not None]
    embedding = np.mean(embeddings, axis=0).astype(np.float32) if embeddings else None
    name = ", ".join(Path(path).name for path in paths)
    return Identity(name=name, faces=faces, embedding=embedding)


def best_source_face(identity: Identity, target: Face) -> SourceFace:
    """The source photo whose head pose is closest to the target's (ties: the larger face)."""
    if len(identity.faces) == 1 or target.mesh is None:
        return identity.faces[0]
    yaw, pitch = head_pose(target.mesh)
    return min(identity.faces, key=lambda source: (abs(source.yaw - yaw) + 0.5 * abs(source.pitch - pitch),
                                                   -source.face.size))


@dataclass(frozen=True)
class FaceMapEntry:
    """Which target face gets which source: by position in the chosen order, or by a reference photo."""

    sources: tuple[str, ...]
    position: int | None = None
    reference_path: str | None = None


def parse_face_map(entries: list[str]) -> list[FaceMapEntry]:
    """Parse ``KEY=SOURCE[,SOURCE...]`` items; KEY is a position (0, 1, ...) or a reference image."""
    parsed = []
    for entry in entries:
        key, separator, value = entry.partition("=")
        sources = tuple(item for item in value.split(",") if item)
        if not separator or not key or not sources:
            raise InvalidInputError(
                f"--face-map: '{entry}' is not KEY=SOURCE; write e.g. 0=alice.jpg or carol_ref.jpg=alice.jpg")
        if key.isdigit():
            parsed.append(FaceMapEntry(sources=sources, position=int(key)))
        else:
            parsed.append(FaceMapEntry(sources=sources, reference_path=key))
    return parsed


def face_map_files(entries: list[str] | tuple[str, ...]) -> list[str]:
    """Every file a face map names: its source photos and its reference photos (``ref.jpg=a.jpg,b.jpg`` names
    three)."""
    return [path for entry in parse_face_map(list(entries))
            for path in (*entry.sources, *([entry.reference_path] if entry.reference_path else []))]

"""Identity descriptors: dlib's ResNet (128-d, embedded, shipped by face-recognition-models) or
ArcFace (512-d, the neural engine's arcface_w600k_r50 or a file of its shape).

face-recognition-models is located without importing it: its ``__init__`` imports ``pkg_resources``,
which is gone from setuptools 81 and newer.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import StudioError
from ..inference.catalogue import Contract
from ..inference.runtime import SessionPool
from ..types import Embedding, Face, FrameBGR, Points
from .align import to_blob, warp_face

EMBEDDER_NAME = "dlib_resnet_v1"
ARCFACE_SIZE = 512


def dlib_models_folder() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise StudioError("face-recognition-models is not installed; run the README's setup command")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class FaceRecogniser:
    """dlib 5-point shape predictor + ResNet descriptor; not thread-safe (one per worker)."""

    name = EMBEDDER_NAME

    def __init__(self) -> None:
        import dlib

        folder = dlib_models_folder()
        self._dlib = dlib
        self._shape_predictor = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
        self._descriptor = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed(self, frame: FrameBGR, face: Face) -> Embedding:
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        bbox = face.bbox
        rectangle = self._dlib.rectangle(int(bbox[0]), int(bbox[1]), int(bbox[2]), int(bbox[3]))
        shape = self._shape_predictor(rgb, rectangle)
        descriptor = self._descriptor.compute_face_descriptor(rgb, shape)
        return np.asarray(descriptor, dtype=np.float32)


@dataclass
class ArcFace:
    """ArcFace recogniser (arcface_w600k_r50 contract): 112x112 aligned crop -> 512-d embedding."""

    path: Path
    contract: Contract
    pool: SessionPool

    def embed(self, image: FrameBGR, landmarks_5: Points) -> np.ndarray:
        """The raw (not normalised) 512-d embedding."""
        crop, _ = warp_face(image, landmarks_5, self.contract.template or "arcface_112_v2", self.contract.size or 112)
        session = self.pool.batched(self.path)
        blob = to_blob(crop, self.contract.mean, self.contract.std, scale=1.0)
        return session.run({self.contract.inputs[0].name: blob})[0].reshape(-1).astype(np.float32)



class ArcFaceRecogniser:
    """ArcFace on the face's five points; the embedding is normalised (thread-safe)."""

    def __init__(self, path: Path, pool: object) -> None:
        from ..inference.catalogue import ARCFACE

        self.name = path.stem
        self._model = ArcFace(path, ARCFACE, pool)  # type: ignore[arg-type]

    def embed(self, frame: FrameBGR, face: Face) -> Embedding:
        raw = self._model.embed(frame, face.landmarks_5)
        return (raw / (np.linalg.norm(raw) + 1e-9)).astype(np.float32)


def embedding_distance(a: Embedding, b: Embedding) -> float:
    """Identity distance on one scale for both recognisers: below 0.6 is the same person.

    dlib (128-d): Euclidean distance, 0.6 being dlib's own threshold. ArcFace (512-d): 1 - cosine
    similarity (0..2); 0.6 is a cosine of 0.4, the threshold FaceFusion users know as 0.3 on its
    halved scale."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.size == ARCFACE_SIZE:
        return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
    return float(np.linalg.norm(a - b))

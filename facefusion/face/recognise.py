"""128-d identity descriptors from dlib's ResNet, shipped by face-recognition-models.

The package is located without importing it: its ``__init__`` imports ``pkg_resources``, which is
gone from setuptools 81 and newer.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import StudioError
from ..types import BoundingBox, Embedding, FrameBGR

EMBEDDER_NAME = "dlib_resnet_v1"


def dlib_models_folder() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise StudioError("face-recognition-models is not installed; run the README's setup command")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class FaceRecogniser:
    """dlib 5-point shape predictor + ResNet descriptor; not thread-safe (one per worker)."""

    def __init__(self) -> None:
        import dlib

        folder = dlib_models_folder()
        self._dlib = dlib
        self._shape_predictor = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
        self._descriptor = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))

    def embed(self, frame: FrameBGR, bbox: BoundingBox) -> Embedding:
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        rectangle = self._dlib.rectangle(int(bbox[0]), int(bbox[1]), int(bbox[2]), int(bbox[3]))
        shape = self._shape_predictor(rgb, rectangle)
        descriptor = self._descriptor.compute_face_descriptor(rgb, shape)
        return np.asarray(descriptor, dtype=np.float32)


def embedding_distance(a: Embedding, b: Embedding) -> float:
    """Euclidean distance between descriptors; below 0.6 dlib calls them the same person."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))

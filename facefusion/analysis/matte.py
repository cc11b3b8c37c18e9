"""Where the people are: a soft matte of the whole frame (1 on a person, 0 on the background).

Two sources. The embedded one is mediapipe's selfie segmentation (its 256x256 general model ships inside the
installed wheel: no download); its matte is coarse at that size, so it is refined against the frame itself with
a guided filter (edges follow the picture's own edges: hair, shoulders). The others are ONNX background
removers from the catalogue (MODNet, U-2-Net, IS-Net, BiRefNet, RMBG ...) or a user's file of the same shape:
the frame resized to the model's square, normalised, one matte out.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..inference.catalogue import Contract
from ..inference.runtime import SessionPool
from ..types import FrameBGR, Mask
from .mediapipe_loader import mediapipe

EMBEDDED_MATTE = "mediapipe"
"""The --background-remover-model choice of the embedded matte."""


class Matte(Protocol):
    description: str

    def matte(self, frame: FrameBGR) -> Mask:
        """HxW float32 in 0..1 at the frame's size: 1 where a person (the foreground) is."""
        ...


def guided_filter(guide: np.ndarray, source: Mask, radius: int, eps: float, step: int = 1) -> Mask:
    """He, Sun and Tang's guided filter with a grey guide: ``source`` smoothed where ``guide`` is flat and kept
    sharp along ``guide``'s edges (a coarse matte takes the picture's outline). ``step`` > 1 works out the local
    linear fit on a picture that many times smaller and applies it at full size (their fast variant: the fit is
    smooth, so little is lost, and a 720p frame takes a quarter of the time)."""
    height, width = guide.shape
    small_guide, small_source = guide, source
    if step > 1:
        size = (max(1, width // step), max(1, height // step))
        small_guide = cv2.resize(guide, size, interpolation=cv2.INTER_AREA)
        small_source = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
        radius = max(1, radius // step)
    box = (2 * radius + 1, 2 * radius + 1)

    def mean(values: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(values, cv2.CV_32F, box, borderType=cv2.BORDER_REFLECT)

    guide_mean, source_mean = mean(small_guide), mean(small_source)
    covariance = mean(small_guide * small_source) - guide_mean * source_mean
    variance = mean(small_guide * small_guide) - guide_mean * guide_mean
    slope = covariance / (variance + eps)
    offset = source_mean - slope * guide_mean
    slope, offset = mean(slope), mean(offset)
    if step > 1:
        slope = cv2.resize(slope, (width, height), interpolation=cv2.INTER_LINEAR)
        offset = cv2.resize(offset, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(slope * guide + offset, 0.0, 1.0).astype(np.float32)


class SelfieMatte:
    """mediapipe's selfie segmentation (general model), refined with a guided filter. One graph, one frame at a
    time (a lock: the graph keeps state between calls)."""

    description = "mediapipe selfie segmentation (embedded, Apache-2.0)"

    def __init__(self) -> None:
        solutions = mediapipe().solutions
        self._graph = solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        self._lock = threading.Lock()

    def matte(self, frame: FrameBGR) -> Mask:
        with self._lock:
            coarse = self._graph.process(np.ascontiguousarray(frame[:, :, ::-1])).segmentation_mask
        coarse = np.asarray(coarse, np.float32)
        if coarse.shape != frame.shape[:2]:
            coarse = cv2.resize(coarse, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
        # The model sees 256 pixels across: its edge is uncertain over about one of them.
        radius = max(2, round(max(frame.shape[:2]) / 256))
        return guided_filter(grey, coarse, radius, 1e-3, step=max(1, min(frame.shape[:2]) // 360))

    def close(self) -> None:
        self._graph.close()


class OnnxMatte:
    """A catalogue background remover (or a user's file with the same contract)."""

    def __init__(self, path: Path, contract: Contract, pool: SessionPool, description: str) -> None:
        self.contract = contract
        self.description = description
        self._session = pool.batched(path)

    def matte(self, frame: FrameBGR) -> Mask:
        size = self.contract.size or 320
        resized = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
        mean, std = np.array(self.contract.mean, np.float32), np.array(self.contract.std, np.float32)
        blob = ((resized[:, :, ::-1].astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)[None]
        output = np.asarray(self._session.run({self.contract.inputs[0].name: np.ascontiguousarray(blob)})[0][0])
        if output.ndim == 3 and output.shape[0] > 1:
            # A model of several classes (clothes segmentation): anything not class 0 (background) is kept.
            output = (np.argmax(output, axis=0) > 0).astype(np.float32)
        matte = np.clip(output.reshape(output.shape[-2:]), 0.0, 1.0).astype(np.float32)
        return cv2.resize(matte, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)

    def close(self) -> None:
        return None

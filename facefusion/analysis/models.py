"""Which models the analysis uses: the detector(s) and the recogniser a --face-detector-model and a
--face-recogniser-model choice stand for (the embedded ones, catalogue files, or the user's own)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..types import FrameBGR
from .detect import Detection, merge_detections

EMBEDDED_DETECTOR = "mediapipe BlazeFace (embedded)"


class Detector(Protocol):
    def detect(self, frame: FrameBGR) -> list[Detection]: ...

    def close(self) -> None: ...


@dataclass
class DetectorChoice:
    """Which detectors to run: the embedded one and/or neural model files."""

    embedded: bool = True
    files: tuple[Path, ...] = ()
    description: str = EMBEDDED_DETECTOR
    size: int = 640


def choose_detector(choice: str = "mediapipe", size: int = 640, folder: Path | None = None) -> DetectorChoice:
    """``mediapipe``; a neural model name; ``auto`` (the first neural detector present, else the embedded
    one); ``many`` (every detector present, merged); or the path of the user's own .onnx file."""
    from ..inference.catalogue import DETECTOR, DETECTOR_ALIASES, find
    from ..inference.download import is_present, models_dir, require
    from ..inference.resolve import choose, resolve_model

    folder = folder or models_dir()
    if choice == "mediapipe":
        return DetectorChoice()
    if choice.lower().endswith(".onnx"):
        resolved = resolve_model(choice, "detector", "--face-detector-model", DETECTOR, folder)
        return DetectorChoice(False, (resolved.path,), f"face detector: {resolved.description}", size)
    present = [name for name in DETECTOR_ALIASES if is_present(name, folder)]
    if choice == "auto":
        chosen = choose(list(DETECTOR_ALIASES), folder)
        if chosen is None:
            return DetectorChoice(description=f"face detector: {EMBEDDED_DETECTOR}, no neural detector in the "
                                              "models folder")
        choice = chosen
    if choice == "many":
        files = tuple(folder / find(name).file for name in present)
        return DetectorChoice(True, files, "face detector: many (" + ", ".join(["mediapipe", *present]) + ")", size)
    entry = find(choice)
    return DetectorChoice(False, (require(entry, folder),), f"face detector: {choice} ({entry.licence_label})", size)


@dataclass
class RecogniserChoice:
    """The embedded dlib recogniser (``file`` None) or an ArcFace-shaped model file."""

    file: Path | None = None
    description: str = "identity: dlib ResNet (embedded)"


def choose_recogniser(choice: str = "dlib", folder: Path | None = None) -> RecogniserChoice:
    """``dlib``; ``arcface_w600k_r50``; ``auto`` (ArcFace when its file is present, else dlib); or the
    path of the user's own .onnx file with ArcFace's contract."""
    from ..inference.catalogue import ARCFACE
    from ..inference.download import models_dir
    from ..inference.resolve import choose, resolve_model

    folder = folder or models_dir()
    if choice == "dlib":
        return RecogniserChoice()
    if choice == "auto":
        if choose(("arcface_w600k_r50",), folder) is None:
            return RecogniserChoice(description="identity: dlib ResNet (embedded), no arcface_w600k_r50 in the "
                                                "models folder")
        choice = "arcface_w600k_r50"
    resolved = resolve_model(choice, "recogniser", "--face-recogniser-model", ARCFACE, folder)
    return RecogniserChoice(resolved.path, f"identity: {resolved.description}")


class MergedDetector:
    """Several detectors on the same frame; a face found by more than one is kept once."""

    def __init__(self, detectors: list[Detector]) -> None:
        self.detectors = detectors

    def detect(self, frame: FrameBGR) -> list[Detection]:
        return merge_detections([found for detector in self.detectors for found in detector.detect(frame)])

    def close(self) -> None:
        for detector in self.detectors:
            detector.close()

"""Content checks the operator turns on (``--content-check``): pictures a run must not make or use.

- ``nsfw``: NudeNet's detector of exposed body parts (``320n.onnx``, a YOLOv8-style network), run by our
  onnxruntime. It is AGPL-3.0, so it is an optional extra the operator installs (``make nsfw``), never a
  default dependency; its file may also be put in the models folder as ``nudenet_320n.onnx``.
- a URL: the operator's own moderation service. Each sampled frame is POSTed to it as a JPEG
  (``Content-Type: image/jpeg``, with ``X-Facefusion-Check: target`` or ``output``); it answers JSON
  ``{"decision": "allow" | "deny", "reason": "..."}``. A "deny" refuses the run; a service that does not
  answer stops it too (a check that cannot run is not a pass).

The target is checked before any work (an image, or frames spread over a video) and the output before
it is written (the picture, or frames sampled while a video is drawn). With no check nothing is blocked.
"""
from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..errors import InvalidInputError, RefusedError, StudioError
from ..types import FrameBGR

NSFW = "nsfw"
NUDENET_LABELS = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
    "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED", "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED")
"""The detector's classes, in the order of its outputs."""
REFUSED_LABELS = frozenset({"BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED",
                            "ANUS_EXPOSED", "MALE_GENITALIA_EXPOSED"})
NSFW_SCORE = 0.5
"""A detection this sure of a refused class refuses the picture."""
NSFW_SIDE = 320
HOOK_TIMEOUT = 20.0
SAMPLED_FRAMES = 8
"""Frames of a video target checked before the run, and of its output while it is drawn."""


class ContentCheck(Protocol):
    name: str

    def check(self, frame: FrameBGR, what: str, stage: str) -> None:
        """Raise RefusedError when ``frame`` (``what``: how to name it; ``stage``: target or output) is refused."""


def _box(corners: np.ndarray) -> tuple[int, int, int, int]:
    left, top, width, height = (int(value) for value in corners)
    return left, top, width, height


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[int, int, int, int]


def nudenet_model() -> Path | None:
    """The NudeNet detector file: from the installed extra, else the models folder."""
    from ..inference.download import models_dir

    spec = importlib.util.find_spec("nudenet")
    if spec is not None and spec.submodule_search_locations:
        packaged = Path(next(iter(spec.submodule_search_locations))) / "320n.onnx"
        if packaged.is_file():
            return packaged
    own = models_dir() / "nudenet_320n.onnx"
    return own if own.is_file() else None


@dataclass
class NsfwCheck:
    """Refuses pictures in which NudeNet finds exposed intimate body parts."""

    refused_labels: frozenset[str] = REFUSED_LABELS
    score: float = NSFW_SCORE
    name: str = NSFW
    _session: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import onnxruntime

        model = nudenet_model()
        if model is None:
            raise InvalidInputError("--content-check nsfw needs NudeNet's detector (AGPL-3.0, not installed by "
                                    "default): run `make nsfw`, or put its 320n.onnx in the models folder as "
                                    "nudenet_320n.onnx")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 2
        self._session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def detect(self, frame: FrameBGR) -> list[Detection]:
        """Everything the detector is at least 25 % sure of, strongest first."""
        height, width = frame.shape[:2]
        side = max(height, width)
        square = np.zeros((side, side, 3), np.uint8)
        square[:height, :width] = frame  # padded at the right and bottom, so boxes need only a scale
        scale = side / NSFW_SIDE
        blob = cv2.resize(square, (NSFW_SIDE, NSFW_SIDE), interpolation=cv2.INTER_AREA)[..., ::-1]
        blob = np.ascontiguousarray(blob.transpose(2, 0, 1)[None], np.float32) / 255
        output = self._session.run(None, {"images": blob})[0][0].T  # type: ignore[attr-defined]
        scores = output[:, 4:]
        classes, best = scores.argmax(axis=1), scores.max(axis=1)
        keep = best >= 0.25
        boxes = output[keep, :4] * scale
        corners = np.stack([boxes[:, 0] - boxes[:, 2] / 2, boxes[:, 1] - boxes[:, 3] / 2, boxes[:, 2], boxes[:, 3]], 1)
        chosen = cv2.dnn.NMSBoxes(corners.tolist(), best[keep].tolist(), 0.25, 0.45)
        found = [Detection(NUDENET_LABELS[int(classes[keep][index])], float(best[keep][index]),
                           _box(corners[index])) for index in np.asarray(chosen).ravel()]
        return sorted(found, key=lambda detection: -detection.score)

    def check(self, frame: FrameBGR, what: str, stage: str) -> None:
        hits = [detection for detection in self.detect(frame)
                if detection.label in self.refused_labels and detection.score >= self.score]
        if hits:
            found = ", ".join(sorted({f"{hit.label.lower().replace('_', ' ')} ({hit.score:.0%})" for hit in hits}))
            raise RefusedError(f"refused by the content check (nsfw): {what} shows {found}; this studio does not "
                               "make or use such pictures")


@dataclass
class HookCheck:
    """Asks the operator's moderation service about each sampled picture."""

    url: str
    name: str = "hook"

    def check(self, frame: FrameBGR, what: str, stage: str) -> None:
        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
        request = urllib.request.Request(self.url, data=encoded.tobytes(), method="POST", headers={
            "Content-Type": "image/jpeg", "X-Facefusion-Check": stage})
        try:
            with urllib.request.urlopen(request, timeout=HOOK_TIMEOUT) as response:
                answer = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise StudioError(f"the content check at {self.url} did not answer ({reason}); nothing was made: a "
                              "check that cannot run is not a pass") from None
        decision = str(answer.get("decision", "")).lower() if isinstance(answer, dict) else ""
        if decision == "deny":
            reason = str(answer.get("reason") or "no reason given")
            raise RefusedError(f"refused by the content check at {self.url}: {what}: {reason}")
        if decision != "allow":
            raise StudioError(f"the content check at {self.url} answered neither allow nor deny for {what}; "
                              "nothing was made")


def content_checks(names: tuple[str, ...]) -> list[ContentCheck]:
    """The checks ``--content-check`` names (``nsfw``, or an http(s) URL), ready to run."""
    checks: list[ContentCheck] = []
    for name in names:
        if name == NSFW:
            checks.append(NsfwCheck())
        elif name.startswith(("http://", "https://")):
            checks.append(HookCheck(name))
        else:
            raise InvalidInputError(f"--content-check: '{name}' is neither nsfw nor an http(s) URL of a moderation "
                                    "service")
    return checks


def run_checks(checks: list[ContentCheck], frame: FrameBGR, what: str, stage: str) -> None:
    for check in checks:
        check.check(frame, what, stage)


def sample_positions(total: int, count: int = SAMPLED_FRAMES) -> set[int]:
    """``count`` positions spread evenly over ``total`` frames (all of them when fewer)."""
    return set(np.linspace(0, max(total - 1, 0), min(count, max(total, 1))).round().astype(int).tolist())

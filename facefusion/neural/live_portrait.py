"""LivePortrait's networks as FaceFusion exports them (KwaiVGI, MIT), and the keypoint arithmetic around them.

A face crop (512, here brought to 256) gives the feature extractor a feature volume and the motion extractor its
pose (pitch, yaw, roll in degrees), scale, translation, 21 x 3 expression offsets and 21 x 3 canonical keypoints.
Keypoints are ``scale * (points @ R.T + expression) + translation``; the generator redraws the features moved from
one set of keypoints (``target``: those of the crop the features came from) to another (``source``: the wanted
ones), 512 x 512 RGB in 0..1.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..inference.catalogue import find
from ..inference.download import model_path, models_dir, require
from ..inference.runtime import SessionPool
from ..types import FrameBGR

CROP_SIZE = 512
NETWORK_SIZE = 256

# Per expression coefficient (21 rows of x, y, z), the range the generator was seen to handle: FaceFusion clips
# every mixed expression to it (its live_portrait.py limits, as published).
EXPRESSION_MIN = np.array([
    [-2.88067125e-02, -8.12731311e-02, -1.70541159e-03], [-4.88598682e-02, -3.32196616e-02, -1.67431499e-04],
    [-6.75425082e-02, -4.28681746e-02, -1.98950816e-04], [-7.23103955e-02, -3.28503326e-02, -7.31324719e-04],
    [-3.87073644e-02, -6.01546466e-02, -5.50269964e-04], [-6.38048723e-02, -2.23840728e-01, -7.13261834e-04],
    [-3.02710701e-02, -3.93195450e-02, -8.24086510e-06], [-2.95799859e-02, -5.39318882e-02, -1.74219604e-04],
    [-2.92359516e-02, -1.53050944e-02, -6.30460854e-05], [-5.56493877e-03, -2.34344602e-02, -1.26858242e-04],
    [-4.37593013e-02, -2.77768299e-02, -2.70503685e-02], [-1.76926646e-02, -1.91676542e-02, -1.15090821e-04],
    [-8.34268332e-03, -3.99775570e-03, -3.27481248e-05], [-3.40162888e-02, -2.81868968e-02, -1.96679524e-04],
    [-2.91855410e-02, -3.97511162e-02, -2.81230678e-05], [-1.50395725e-02, -2.49494594e-02, -9.42573533e-05],
    [-1.67938769e-02, -2.00953931e-02, -4.00750607e-04], [-1.86435618e-02, -2.48535164e-02, -2.74416432e-02],
    [-4.61211195e-03, -1.21660791e-02, -2.93173041e-04], [-4.10017073e-02, -7.43824020e-02, -4.42762971e-02],
    [-1.90370996e-02, -3.74363363e-02, -1.34740388e-02]], np.float32)[None]
EXPRESSION_MAX = np.array([
    [4.46682945e-02, 7.08772913e-02, 4.08344204e-04], [2.14308221e-02, 6.15894832e-02, 4.85319615e-05],
    [3.02363783e-02, 4.45043296e-02, 1.28298725e-05], [3.05869691e-02, 3.79812494e-02, 6.57040102e-04],
    [4.45670523e-02, 3.97259220e-02, 7.10966764e-04], [9.43699256e-02, 9.85926315e-02, 2.02551950e-04],
    [1.61131397e-02, 2.92906128e-02, 3.44733417e-06], [5.23825921e-02, 1.07065082e-01, 6.61510974e-04],
    [2.85718683e-03, 8.32320191e-03, 2.39314613e-04], [2.57947259e-02, 1.60935968e-02, 2.41853559e-05],
    [4.90833223e-02, 3.43903080e-02, 3.22353356e-02], [1.44766076e-02, 3.39248963e-02, 1.42291479e-04],
    [8.75749043e-04, 6.82212645e-03, 2.76097053e-05], [1.86958015e-02, 3.84016186e-02, 7.33085908e-05],
    [2.01714113e-02, 4.90544215e-02, 2.34028921e-05], [2.46518422e-02, 3.29151377e-02, 3.48571630e-05],
    [2.22457591e-02, 1.21796541e-02, 1.56396593e-04], [1.72109623e-02, 3.01626958e-02, 1.36556877e-02],
    [1.83460284e-02, 1.61141958e-02, 2.87440169e-04], [3.57594155e-02, 1.80554688e-01, 2.75554154e-02],
    [2.17450950e-02, 8.66811201e-02, 3.34241726e-02]], np.float32)[None]


def rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """The 3 x 3 rotation of the Euler angles (degrees) about the fixed x, y and z axes in that order: the
    matrix is Rz(roll) Ry(yaw) Rx(pitch)."""
    x, y, z = np.radians([pitch, yaw, roll])
    about_x = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    about_y = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    about_z = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    return (about_z @ about_y @ about_x).astype(np.float32)


@dataclass(frozen=True)
class Motion:
    """What the motion extractor reads in a crop."""

    pitch: float
    yaw: float
    roll: float
    scale: np.ndarray
    translation: np.ndarray
    expression: np.ndarray
    """1 x 21 x 3."""
    points: np.ndarray
    """1 x 21 x 3, the face's canonical keypoints."""

    def keypoints(self, expression: np.ndarray) -> np.ndarray:
        """This pose's keypoints with ``expression`` in place of its own."""
        turned = self.points @ rotation(self.pitch, self.yaw, self.roll).T
        return (self.scale * (turned + expression) + self.translation).astype(np.float32)


def network_input(crop: FrameBGR) -> np.ndarray:
    """A 512 crop as the networks take it: 256 x 256, RGB, 0..1, NCHW."""
    small = cv2.resize(crop, (NETWORK_SIZE, NETWORK_SIZE), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray((small[:, :, ::-1].astype(np.float32) / 255.0).transpose(2, 0, 1)[None])


def _scalar(value: Any) -> float:
    return float(np.asarray(value, np.float32).ravel()[0])


RESTORER_PARTS = ("feature_extractor", "motion_extractor", "generator")
"""What the expression restorer runs."""
EDITOR_PARTS = (*RESTORER_PARTS, "eye_retargeter", "lip_retargeter", "stitcher")
"""What the face editor runs: the eyes' and lips' openings are retargeted, and the moved keypoints stitched to
the crop's edge so the pasted face meets the picture."""


class LivePortrait:
    """LivePortrait's networks (the files of the catalogue, in the models folder)."""

    def __init__(self, pool: SessionPool, folder: Path | None = None, paths: dict[str, Path] | None = None,
                 parts: tuple[str, ...] = RESTORER_PARTS) -> None:
        """``paths``: files to use instead of the catalogue's (tests, a user's own export)."""
        folder = folder or models_dir()
        if paths is None:
            paths = {part: require(find(f"live_portrait_{part}"), folder) for part in parts}
        self._sessions = {part: pool.session(paths[part]) for part in parts}

    @staticmethod
    def missing(folder: Path | None = None, parts: tuple[str, ...] = RESTORER_PARTS) -> list[str]:
        """The catalogue's LivePortrait files of ``parts`` that are not in the models folder."""
        folder = folder or models_dir()
        names = [f"live_portrait_{part}" for part in parts]
        return [name for name in names if not model_path(find(name), folder).is_file()]

    def retarget(self, part: str, values: np.ndarray) -> np.ndarray:
        """The eye or lip retargeter (``part``) on a row of keypoints and ratios: keypoint moves, 1 x 21 x 3."""
        output = self._sessions[part].run(None, {"input": values.reshape(1, -1).astype(np.float32)})[0]
        return np.asarray(output, np.float32).reshape(1, 21, 3)

    def stitch(self, wanted: np.ndarray, own: np.ndarray) -> np.ndarray:
        output = self._sessions["stitcher"].run(None, {"source": wanted, "target": own})[0]
        return np.asarray(output, np.float32).reshape(1, 21, 3)

    def features(self, crop: np.ndarray) -> np.ndarray:
        return np.asarray(self._sessions["feature_extractor"].run(None, {"input": crop})[0])

    def motion(self, crop: np.ndarray) -> Motion:
        pitch, yaw, roll, scale, translation, expression, points = \
            self._sessions["motion_extractor"].run(None, {"input": crop})[:7]
        return Motion(_scalar(pitch), _scalar(yaw), _scalar(roll), np.asarray(scale, np.float32),
                      np.asarray(translation, np.float32), np.asarray(expression, np.float32),
                      np.asarray(points, np.float32))

    def generate(self, features: np.ndarray, wanted: np.ndarray, own: np.ndarray) -> FrameBGR:
        """The crop redrawn with its features moved from the keypoints ``own`` to ``wanted`` (a BGR 512 crop)."""
        output = self._sessions["generator"].run(None, {"feature_volume": features, "source": wanted,
                                                        "target": own})[0][0]
        picture = np.clip(np.asarray(output).transpose(1, 2, 0), 0.0, 1.0)
        return (picture[:, :, ::-1] * 255 + 0.5).astype(np.uint8)

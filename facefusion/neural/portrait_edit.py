"""The face editor with LivePortrait (MIT): FaceFusion's sliders as moves of the networks' expression coefficients
and head angles, the eyes' and lips' openings through the retargeters, the moved keypoints stitched, the crop
redrawn by the generator and pasted back inside a soft box.

The crop is the ``ffhq_512`` one at 512 from the five landmarks drawn 1.5 times apart about the nose (more of the
head than a face crop). The eye and lip openings the retargeters start from are read from the Face Mesh points that
stand where the 68-point layout's do.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..analysis.align import box_mask, paste_back, warp_face
from ..types import Face, FrameBGR, Points
from .live_portrait import CROP_SIZE, EXPRESSION_MAX, EXPRESSION_MIN, LivePortrait, network_input

Move = tuple[int, int, float]
"""(coefficient row, axis, change at slider 1): a slider value v adds v x change."""

EXPRESSION_MOVES: dict[str, tuple[tuple[Move, ...], tuple[Move, ...]]] = {
    # slider: (moves for a positive value, moves for a negative one), FaceFusion's face editor's figures.
    "eyebrow_direction": (((1, 1, 0.015), (2, 1, -0.02)),
                          ((1, 0, -0.015), (2, 0, 0.02), (1, 1, 0.005), (2, 1, -0.005))),
    "eye_gaze_horizontal": (((11, 0, 0.015), (15, 0, 0.02)), ((11, 0, 0.02), (15, 0, 0.015))),
    "eye_gaze_vertical": (((1, 1, 0.0025), (2, 1, -0.0025), (11, 1, -0.01), (13, 1, -0.005), (15, 1, -0.01),
                           (16, 1, -0.005)),) * 2,
    "mouth_grim": (((17, 2, -0.005), (19, 2, 0.01), (20, 1, -0.06), (20, 2, -0.03)),
                   ((19, 1, -0.05), (19, 2, -0.02), (20, 2, -0.03))),
    "mouth_position_horizontal": (((19, 0, 0.05), (20, 0, 0.04)),) * 2,
    "mouth_position_vertical": (((19, 1, -0.04), (20, 1, -0.02)), ((19, 1, -0.05), (20, 1, -0.04))),
    "mouth_pout": (((19, 1, -0.022), (19, 2, 0.025), (20, 2, -0.002)),
                   ((19, 1, 0.022), (19, 2, 0.025), (20, 2, -0.002))),
    "mouth_purse": (((19, 1, -0.04), (19, 2, -0.02)),
                    ((14, 1, -0.02), (17, 2, 0.01), (19, 2, -0.015), (20, 2, -0.002))),
    "mouth_smile": (((20, 1, -0.015), (14, 1, -0.025), (17, 1, 0.01), (17, 2, 0.004), (3, 1, -0.0045),
                     (7, 1, -0.0045)),
                    ((14, 1, -0.02), (17, 1, 0.003), (19, 1, 0.02), (19, 2, -0.005), (20, 2, 0.01), (3, 1, 0.0045),
                     (7, 1, 0.0045))),
}
HEAD_TURNS = {"head_pitch": -20.0, "head_yaw": -60.0, "head_roll": 15.0}
"""Degrees added to each angle at slider 1."""
ANGLE_LIMITS = (30.0, 60.0, 20.0)
"""Pitch, yaw, roll: how far an edited head may turn (further only where the face already was)."""

# The Face Mesh points standing where the 68-point layout's eye and mouth points are.
IMAGE_LEFT_EYE_RATIO = (160, 153, 133, 33)   # 68-point 37, 40, 39, 36: upper lid, lower lid, inner, outer corner
IMAGE_RIGHT_EYE_RATIO = (385, 373, 263, 362)  # 43, 46, 45, 42
LIP_RATIO = (13, 14, 291, 61)                 # 62, 66, 54, 48: inner lips' middles, mouth corners


def distance_ratio(mesh: Points, points: tuple[int, int, int, int]) -> float:
    top, bottom, left, right = (mesh[index, :2] for index in points)
    return float(np.linalg.norm(top - bottom) / (np.linalg.norm(left - right) + 1e-6))


def edited_expression(expression: np.ndarray, sliders: dict[str, float]) -> np.ndarray:
    edited = expression.copy()
    for name, (raising, lowering) in EXPRESSION_MOVES.items():
        value = sliders.get(name, 0.0)
        for row, axis, change in raising if value > 0 else lowering:
            edited[0, row, axis] += change * value
    return np.clip(edited, EXPRESSION_MIN, EXPRESSION_MAX).astype(np.float32)


def edited_angles(angles: tuple[float, float, float], sliders: dict[str, float]) -> tuple[float, float, float]:
    """The head's angles after the head sliders, kept within ANGLE_LIMITS (widened to where the face already was)."""
    edited = []
    for angle, name, limit in zip(angles, HEAD_TURNS, ANGLE_LIMITS):
        turned = angle + HEAD_TURNS[name] * sliders.get(name, 0.0)
        low, high = min(-limit, angle), max(limit, angle)
        edited.append(float(np.clip(turned, low, high)))
    return edited[0], edited[1], edited[2]


class PortraitEditor:
    def __init__(self, networks: LivePortrait, sliders: dict[str, float], mask_blur: float = 0.3) -> None:
        self.networks = networks
        self.sliders = sliders
        self.mask_blur = mask_blur

    def edit(self, frame: FrameBGR, face: Face) -> FrameBGR:
        assert face.mesh is not None  # the editor declines faces without one
        landmarks = (face.landmarks_5 - face.landmarks_5[2]) * 1.5 + face.landmarks_5[2]
        crop, matrix = warp_face(frame, landmarks.astype(np.float32), "ffhq_512", CROP_SIZE)
        picture = network_input(crop)
        motion = self.networks.motion(picture)
        own = motion.keypoints(motion.expression)
        pitch, yaw, roll = edited_angles((motion.pitch, motion.yaw, motion.roll), self.sliders)
        turned = dataclasses.replace(motion, pitch=pitch, yaw=yaw, roll=roll)
        wanted = turned.keypoints(edited_expression(motion.expression, self.sliders))
        wanted = wanted + self._openings(own, face.mesh)
        redrawn = self.networks.generate(self.networks.features(picture), self.networks.stitch(wanted, own), own)
        return paste_back(frame, redrawn, box_mask(CROP_SIZE, self.mask_blur), matrix)

    def _openings(self, own: np.ndarray, mesh: Points) -> np.ndarray:
        """The retargeters' keypoint moves for the eye and lip opening sliders (none when they are 0)."""
        moves = np.zeros_like(own)
        eyes, lips = self.sliders.get("eye_open_ratio", 0.0), self.sliders.get("lip_open_ratio", 0.0)
        if eyes:
            ratios = [distance_ratio(mesh, IMAGE_LEFT_EYE_RATIO), distance_ratio(mesh, IMAGE_RIGHT_EYE_RATIO)]
            values = np.concatenate([own.ravel(), ratios, [0.6 if eyes > 0 else 0.0]])
            moves += self.networks.retarget("eye_retargeter", values) * abs(eyes)
        if lips:
            values = np.concatenate([own.ravel(), [distance_ratio(mesh, LIP_RATIO), 1.0 if lips > 0 else 0.0]])
            moves += self.networks.retarget("lip_retargeter", values) * abs(lips)
        return moves

"""A followed face's mesh held steady from frame to frame by optical flow.

The Face Mesh places each point anew in every frame, with a pixel or two of noise, and a smoothing filter that
removes the noise lags behind a moving head (the One Euro filter alone left the new face 3.6 px behind a head
moving 6 px a frame; in a turn the swapped nose sat visibly above the target's). Where the face really moves,
the pixels move with it: Lucas-Kanade flow from the previous frame carries each point of the previous (steady)
mesh to where its patch went, which is exact to a fraction of a pixel and has no noise of its own; each frame
then takes a small share of the way to the freshly fitted mesh, so flow's slow drift is corrected. A point the
flow lost, or that the new fit puts far from where the flow took it (a mouth that opened faster than its patch
could be followed), takes the fitted position.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..types import Points

FIT_SHARE = 0.3
"""Share of the way from where flow carried a point to where the new fit put it, taken each frame."""
TRUST_FIT = 0.05
"""Gap between the two (a share of the face's size) at which the fitted position is taken in full."""
MARGIN = 0.25
"""Share of the face's size around its points that the flow sees."""
WINDOW = (21, 21)
LEVELS = 3
MOST_ERROR = 30.0
"""Mean patch difference (grey levels) above which a point's flow counts as lost."""


def grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def steady_points(previous_grey: np.ndarray, grey_frame: np.ndarray, previous: Points, fitted: Points,
                  face_size: float) -> Points:
    """``fitted`` (N x 2 or N x 3, this frame's mesh) with its x and y held steady: ``previous`` (the last
    frame's steady mesh) carried by flow, moved part of the way toward the fit."""
    height, width = grey_frame.shape
    points = previous[:, :2].astype(np.float32)
    margin = MARGIN * face_size + WINDOW[0]
    x1 = int(max(0, np.floor(min(points[:, 0].min(), fitted[:, 0].min()) - margin)))
    y1 = int(max(0, np.floor(min(points[:, 1].min(), fitted[:, 1].min()) - margin)))
    x2 = int(min(width, np.ceil(max(points[:, 0].max(), fitted[:, 0].max()) + margin)))
    y2 = int(min(height, np.ceil(max(points[:, 1].max(), fitted[:, 1].max()) + margin)))
    if x2 - x1 < 2 * WINDOW[0] or y2 - y1 < 2 * WINDOW[1]:
        return fitted
    origin = np.array([x1, y1], np.float32)
    moved, found, error = cv2.calcOpticalFlowPyrLK(
        previous_grey[y1:y2, x1:x2], grey_frame[y1:y2, x1:x2], (points - origin).reshape(-1, 1, 2), None,
        winSize=WINDOW, maxLevel=LEVELS, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
    carried = moved.reshape(-1, 2) + origin
    lost = (found.ravel() == 0) | (error.ravel() > MOST_ERROR)
    target = fitted[:, :2].astype(np.float32)
    gap = np.linalg.norm(target - carried, axis=1) / max(face_size, 1.0)
    # Squared, so that the fit's own noise (about a hundredth of the face) barely raises the share.
    share = FIT_SHARE + (1.0 - FIT_SHARE) * np.minimum(1.0, (gap / TRUST_FIT) ** 2)
    share[lost] = 1.0
    steady = fitted.astype(np.float32).copy()
    steady[:, :2] = carried + (target - carried) * share[:, None]
    return steady

"""Value types shared by every layer.

Frames are numpy ``uint8`` arrays in OpenCV's BGR order, shape HxWx3. An alpha channel, when an
image has one, travels beside the frame as a separate HxW ``uint8`` array.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FrameBGR = npt.NDArray[np.uint8]
"""An image in OpenCV order: HxWx3, uint8, blue-green-red."""
Mask = npt.NDArray[np.float32]
"""A soft mask: HxW float32 in 0..1."""
Alpha = npt.NDArray[np.uint8]
"""An image's transparency: HxW uint8, 0 transparent .. 255 opaque."""
Points = npt.NDArray[np.float32]
"""N x 2 (x, y) or N x 3 (x, y, z) pixel coordinates."""
BoundingBox = npt.NDArray[np.float32]
"""x1, y1, x2, y2 in pixels."""
Embedding = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class Face:
    """One face found in a frame.

    ``mesh`` holds the 468 Face Mesh points (x, y in frame pixels, z in the same scale, camera-relative)
    when the landmarker succeeded, else None: such a face can be drawn but not swapped.
    ``embedding`` is filled only when a caller asked for identity (reference matching, source faces):
    it costs about 70 ms a face on a 2-core CPU.
    """

    bbox: BoundingBox
    score: float
    landmarks_5: Points
    mesh: Points | None = None
    embedding: Embedding | None = None
    embedder: str | None = None
    eyes_open: tuple[float, float] | None = None
    """How open each eye is (image-left, image-right: lid gap over eye width, 0 closed, about 0.3 wide
    open), read from the refined Face Mesh when the face was fitted on its own; tracked video frames
    carry the value of the last full detection."""

    @property
    def width(self) -> float:
        return float(self.bbox[2] - self.bbox[0])

    @property
    def height(self) -> float:
        return float(self.bbox[3] - self.bbox[1])

    @property
    def size(self) -> float:
        return max(self.width, self.height)

    @property
    def centre(self) -> tuple[float, float]:
        return float(self.bbox[0] + self.bbox[2]) / 2, float(self.bbox[1] + self.bbox[3]) / 2


@dataclass(frozen=True, eq=False)
class SourceFace:
    """A face of a source image, with the pixels around it kept so it can be warped later."""

    face: Face
    image: FrameBGR
    """A crop of the source image around the face; the face's coordinates are relative to it."""
    path: str
    yaw: float
    pitch: float


@dataclass(frozen=True, eq=False)
class Identity:
    """One person, made from one or more source images."""

    name: str
    faces: tuple[SourceFace, ...]
    embedding: Embedding | None = field(default=None)
    """Mean of the faces' normalised embeddings: what a recogniser sees of this person."""


NO_SOURCE = Identity(name="(no source)", faces=())
"""What the selected faces get when nothing is swapped (enhancers alone): the selector still decides
which faces are worked on, without a source person."""

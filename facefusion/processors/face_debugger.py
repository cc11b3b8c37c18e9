"""face_debugger: draws what the analysis found, to see why a face was or was not swapped."""
from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np

from ..analysis.topology import mesh_topology
from ..classical.mask import apply_padding, region_polygon
from ..options import Options, expand_padding
from ..types import Face, FrameBGR
from .base import FrameContext

SELECTED = (0, 220, 0)
IGNORED = (0, 160, 255)
MESH = (255, 200, 0)
POINTS = (0, 0, 255)
MASK = (255, 0, 255)


class FaceDebugger:
    name = "face_debugger"
    engine = None
    source_type = None
    scale = 1
    needs_mesh = False
    needs_source = False
    live_refusal: ClassVar[str | None] = None
    warnings: tuple[str, ...] = ()

    def __init__(self, options: Options, pool: object = None) -> None:
        self.items = set(options.face_debugger_items)
        self.mask_region = options.face_mask_region
        self.mask_padding = expand_padding(options.face_mask_padding)

    def declines(self, face: Face) -> str | None:
        return None

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        selected = {id(assignment.face) for assignment in context.assignments}
        for face in context.faces:
            thickness = max(1, int(round(face.size / 120)))
            colour = SELECTED if id(face) in selected else IGNORED
            if "face-mesh" in self.items and face.mesh is not None:
                points = face.mesh[:, :2]
                triangles = [np.round(points[t] * 16).astype(np.int32) for t in mesh_topology().triangles]
                cv2.polylines(frame, triangles, True, MESH, 1, cv2.LINE_AA, shift=4)
            if "bounding-box" in self.items:
                x1, y1, x2, y2 = (int(round(v)) for v in face.bbox)
                cv2.rectangle(frame, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
            if "face-mask" in self.items and face.mesh is not None:
                outline = apply_padding(region_polygon(face.mesh, self.mask_region), self.mask_padding)
                cv2.polylines(frame, [np.round(outline * 16).astype(np.int32)], True, MASK, thickness,
                              cv2.LINE_AA, shift=4)
            if "face-landmark-5" in self.items:
                for x, y in face.landmarks_5:
                    cv2.circle(frame, (int(round(x)), int(round(y))), thickness + 1, POINTS, -1, cv2.LINE_AA)
            if "score" in self.items:
                cv2.putText(frame, f"{face.score:.2f}", (int(face.bbox[0]), max(12, int(face.bbox[1]) - 4)),
                            cv2.FONT_HERSHEY_SIMPLEX, max(0.4, face.size / 250), colour, thickness, cv2.LINE_AA)
        return frame

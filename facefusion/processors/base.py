"""The contract every processor follows: frame in, frame out, no files, no front end."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..assign import Assignment
from ..timing import Stopwatch
from ..types import Face, FrameBGR


@dataclass(frozen=True)
class FrameContext:
    """What the analysis of one frame found: every face, and which of them get which source."""

    faces: list[Face]
    assignments: list[Assignment]
    stopwatch: Stopwatch | None = None


class Processor(Protocol):
    name: str

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        """Return the processed frame; may change ``frame`` in place (the caller owns a copy)."""
        ...

"""What a run is given and what it hands back: the job, its progress and its result (every front end's words)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .parts import SEGMENT_FRAMES
from .safety.policy import SafetyPolicy
from .types import FrameBGR


@dataclass(frozen=True)
class Job:
    sources: tuple[str, ...]
    target: str
    output: str | None = None
    face_map: tuple[str, ...] = ()
    reference_face_path: str | None = None
    resume: bool = True
    """Continue a run that stopped part-way, when its saved state matches this job."""
    segment_frames: int = SEGMENT_FRAMES
    """Output frames per resumable segment."""
    watermark_id: int | None = None
    """The output id the video's watermark carries (a service may use its own job numbers); None draws one at
    random. Below 2**20."""
    safety: SafetyPolicy = SafetyPolicy()
    """The operator's policy: protected people to refuse, the audit log to write to."""
    inputs_id: str | None = None
    """Names the inputs for resuming instead of their paths and times: a service's job id, whose inputs never
    change, so that its finished segments can be continued on another machine."""


@dataclass(frozen=True)
class Progress:
    frame: int
    """Frames done."""
    total: int
    fps: float
    eta: float
    """Seconds left, estimated."""
    preview: FrameBGR | None = None
    note: str | None = None
    """Something the user should know now (what a slow model will take, said before the first frame)."""


@dataclass
class RunResult:
    output_path: Path | None
    frames: int
    faces_swapped: int
    failed_frames: list[int]
    seconds: float
    engine: str
    resumed_from: int = 0
    warnings: list[str] = field(default_factory=list)
    frame: FrameBGR | None = None
    """The result for an image target."""
    faces_found: int | None = None
    faces_selected: int | None = None
    watermark_id: str | None = None
    """The output id its invisible watermark carries (None with --no-output-watermark)."""
    source_type: str | None = None
    """How it was made, in IPTC's digital source type vocabulary (None when only annotations were drawn)."""
    signed: bool = False
    """Whether the output carries signed content credentials (C2PA)."""

    def summary(self) -> str:
        mark = f", watermark id {self.watermark_id}" if self.watermark_id else ""
        mark += ", signed (C2PA)" if self.signed else ""
        if self.faces_found is not None:
            return (f"{self.faces_found} face(s) found, {self.faces_selected} selected, {self.faces_swapped} "
                    f"swapped, {self.seconds:.2f} s{mark}, engine {self.engine}")
        text = (f"{self.frames} frame(s), {self.faces_swapped} face swap(s), {self.seconds:.1f} s{mark}, "
                f"engine {self.engine}")
        if self.resumed_from:
            text += f", resumed at frame {self.resumed_from}"
        if self.failed_frames:
            text += f", {len(self.failed_frames)} frame(s) failed and were kept unprocessed: {self.failed_frames[:10]}"
        return text

"""``facefusion inspect FILE``: whether a file carries this product's invisible watermark, and what its
metadata says about how it was made.

The watermark is read from the picture itself, so it is found after the metadata has been stripped
(a re-save, a platform's upload pipeline); the metadata part tells the rest when it is still there.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np
from PIL import Image

from ..errors import InvalidInputError
from ..media.files import existing_file, is_image_path
from ..media.image import read_image
from ..media.video import probe_video, read_frames
from ..types import FrameBGR
from .provenance import read_credentials
from .watermark import MarkReading, Watermarker, format_id

VIDEO_SAMPLES = 24
"""Frames read from a video, spread evenly over it (their decoder outputs are averaged)."""


@dataclass
class Inspection:
    path: str
    kind: str
    """"image" or "video"."""
    marked: bool
    watermark_id: str | None
    confidence: float
    frames_read: int
    metadata: dict[str, str] = field(default_factory=dict)
    """What the file's own metadata says: software, description, IPTC digital source type."""
    c2pa: dict[str, object] | None = None
    """The content credentials (C2PA manifest): state, signer, issues, actions, ingredients; None without."""

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    def report(self) -> list[str]:
        if self.marked:
            mark = (f"watermark: yes, this product's mark, output id {self.watermark_id}" if self.watermark_id
                    else "watermark: yes, this product's mark (its output id could not be read)")
            mark += f" ({self.confidence:.0%} of its bits agree, {self.frames_read} frame(s) read)"
        else:
            mark = f"watermark: none found ({self.frames_read} frame(s) read)"
        lines = [f"{self.path} ({self.kind})", mark]
        if self.metadata:
            lines += [f"metadata {name}: {value}" for name, value in self.metadata.items()]
        else:
            lines.append("metadata: nothing about how it was made")
        lines.append(f"c2pa: {describe_credentials(self.c2pa)}")
        return lines


def describe_credentials(credentials: dict[str, object] | None) -> str:
    """One line for the report: whether the manifest is intact, who signed it, what it says was done."""
    if credentials is None:
        return "no content credentials (C2PA manifest)"
    state = str(credentials["state"])
    verdict = {"Valid": "valid (intact, signed)", "Trusted": "valid, signed by a trusted signer"}.get(
        state, f"INVALID ({state})")
    issues = [str(issue) for issue in credentials["issues"]]  # type: ignore[attr-defined]
    untrusted = "signingCredential.untrusted" in issues
    text = f"{verdict}; signer {credentials['signer'] or 'unnamed'}"
    text += " (not in this computer's trust list)" if untrusted else ""
    text += f"; actions: {', '.join(credentials['actions']) or 'none'}"  # type: ignore[arg-type]
    if credentials.get("digital_source_type"):
        text += f"; digital source type {credentials['digital_source_type']}"
    others = [issue for issue in issues if issue != "signingCredential.untrusted"]
    return text + (f"; problems: {', '.join(others)}" if others else "")


def _image_metadata(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    try:
        with Image.open(path) as image:
            info = dict(image.info)
            exif = image.getexif()
    except OSError:
        return found
    software = info.get("Software") or exif.get(0x0131)
    description = info.get("Comment") or exif.get(0x010E)
    xmp = info.get("XML:com.adobe.xmp") or info.get("xmp") or b""
    xmp = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
    source_type = re.search(r'DigitalSourceType="[^"]*/([A-Za-z]+)"', xmp)
    if software:
        found["software"] = str(software)
    if description:
        found["description"] = str(description)
    if source_type:
        found["digital source type"] = source_type.group(1)
    return found


def _video_metadata(path: Path) -> dict[str, str]:
    try:
        with av.open(str(path)) as container:
            tags = dict(container.metadata)
    except av.error.FFmpegError:
        return {}
    found = {}
    if tags.get("encoder", "").startswith("facefusion-studio"):
        found["software"] = tags["encoder"]
    if tags.get("comment"):
        found["description"] = tags["comment"]
        source_type = re.search(r"IPTC digital source type: ([A-Za-z]+)", tags["comment"])
        if source_type:
            found["digital source type"] = source_type.group(1)
    return found


def _video_frames(path: Path) -> list[FrameBGR]:
    info = probe_video(path)
    if info.frame_count == 0:
        raise InvalidInputError(f"the video has no frames to read: {path}")
    wanted = set(np.linspace(0, info.frame_count - 1, min(VIDEO_SAMPLES, info.frame_count)).round().astype(int))
    return [frame.image for frame in read_frames(info) if frame.index in wanted]


def inspect_file(path: str | Path, watermarker: Watermarker | None = None) -> Inspection:
    """Read ``path``'s watermark and metadata. InvalidInputError for a file that cannot be read."""
    file = existing_file(path)
    watermarker = watermarker or Watermarker(threads=0)
    if is_image_path(file):
        frames, kind, metadata = [read_image(file).frame], "image", _image_metadata(file)
    else:
        frames, kind, metadata = _video_frames(file), "video", _video_metadata(file)
    reading: MarkReading = watermarker.read(frames, video=kind == "video")
    return Inspection(path=str(file), kind=kind, marked=reading.marked,
                      watermark_id=format_id(reading.output_id) if reading.output_id is not None else None,
                      confidence=reading.confidence, frames_read=len(frames), metadata=metadata,
                      c2pa=read_credentials(file))

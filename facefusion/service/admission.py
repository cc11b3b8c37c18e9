"""What a job must pass before the job API accepts it: its options, its files, the operator's limits.

Everything here answers a caller with a one-line reason (InvalidInputError, or Refusal with an HTTP status)
before any work is queued: a photo or video too large to process, too long, a processor the operator did not
offer, a model file outside the server's models folder, an option the operator decides (the marks), an
execution provider this build lacks.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..inference.resolve import served_model_option
from ..inference.runtime import execution_settings, provider_list
from ..media.files import is_image_path, is_video_path, unsupported_target
from ..media.image import read_image
from ..media.video import probe_video
from ..options import PROCESSOR_NAMES, Options, make_options
from ..processors import MISSING_SOURCE, needs_source

OPERATOR_OPTIONS = ("output_watermark", "output_label", "output_label_position", "output_label_size",
                    "output_label_opacity")
"""The marks every output carries: on a server they are the operator's decision, never a caller's."""
MAX_OPTIONS_DEPTH = 2
"""An options object holds values and lists of values: nothing deeper."""
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class Refusal(Exception):
    """A request refused with an HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class JobLimits:
    """The operator's bounds on one job (``serve`` flags)."""

    max_pixels: int = 40_000_000
    """Pixels of a photo or of one video frame (40 MP: 8K video fits)."""
    max_video_frames: int = 18_000
    max_video_seconds: float = 900.0
    allowed_processors: tuple[str, ...] = PROCESSOR_NAMES
    marks: dict[str, Any] = field(default_factory=lambda: {"output_watermark": True, "output_label": None})
    """The operator's values of OPERATOR_OPTIONS that every job gets."""
    check_providers: bool = True
    """Refuse execution providers this process lacks (off when the jobs run on other machines, on Ray)."""


def is_disk_full(error: BaseException) -> bool:
    text = str(error).lower()
    return (isinstance(error, OSError) and error.errno in DISK_FULL) or "disk is full" in text \
        or "no space left" in text


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


def parse_options(raw: str | None) -> dict[str, Any]:
    """The caller's options JSON as a flat object of option names (nested deeper than an option's list is
    refused, as are NaN and infinities)."""
    try:
        values = json.loads(raw, parse_constant=_no_constant) if raw else {}
    except RecursionError:
        raise InvalidInputError("options: nested too deeply; send a flat object of option names") from None
    except ValueError as error:
        reason = str(error) if "NaN" in str(error) else "not JSON"
        raise InvalidInputError(f"options: {reason}; send an object such as {{\"face_selector_mode\": \"many\"}}"
                                ) from None
    if not isinstance(values, dict):
        raise InvalidInputError("options: send a JSON object of option names and values")
    if _depth(values) > MAX_OPTIONS_DEPTH:
        raise InvalidInputError("options: nested too deeply; each option is a value or a list of values")
    return values


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def check_options(values: dict[str, Any], defaults: dict[str, Any], limits: JobLimits) -> dict[str, Any]:
    """The caller's options over the server's defaults and the operator's marks, checked by the option
    definitions and the operator's limits."""
    decided = sorted(set(values) & set(OPERATOR_OPTIONS))
    if decided:
        raise InvalidInputError(f"options: {', '.join(decided)} is set by this server's operator for every "
                                "result; leave it out")
    values = {**defaults, **values, **limits.marks}
    values = {name: served_model_option(name, value) for name, value in values.items()}
    try:
        options = make_options(**values)
    except TypeError as error:
        raise InvalidInputError(f"options: {error}") from None
    refused = [name for name in options.processors if name not in limits.allowed_processors]
    if refused:
        raise InvalidInputError(f"--processors: {', '.join(refused)} is not offered by this server; use "
                                f"{', '.join(limits.allowed_processors)}")
    if limits.check_providers:
        provider_list(execution_settings(options))
    return values


def fingerprint(values: dict[str, Any], callback_url: str | None, paths: list[Path], urls: list[str]) -> str:
    """What a request asked, as one digest: the same Idempotency-Key must come with the same request."""
    digest = hashlib.sha256(json.dumps({"options": values, "callback_url": callback_url, "urls": urls},
                                       sort_keys=True, default=str).encode())
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def check_media(paths: list[Path], options: dict[str, Any], limits: JobLimits) -> None:
    """Decode what was uploaded before the job is accepted: a bad or oversized file is the caller's 422 (413
    for one over the operator's limits), not a failed job or a worker held for an hour."""
    target, sources = paths[0], paths[1:]
    if is_image_path(str(target)):
        _check_picture(target, limits)
    elif is_video_path(str(target)):
        _check_video(target, limits)
    else:
        raise InvalidInputError(f"target: {unsupported_target(target.name[3:])}")
    for source in sources:
        if not is_image_path(str(source)):
            raise InvalidInputError(f"sources: {source.name[3:]} is not an image (jpg, png, webp, bmp, tiff)")
        _check_picture(source, limits)
    if not sources and needs_source(options.get("processors", Options().processors)):
        raise InvalidInputError(f"sources: {MISSING_SOURCE}")


def _check_picture(path: Path, limits: JobLimits) -> None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as opened:
                width, height = opened.size
    except Exception:  # noqa: BLE001 - read_image below names the file and says what is wrong
        width = height = 0
    _check_pixels(path, width, height, limits, "picture")
    read_image(str(path))


def _check_pixels(path: Path, width: int, height: int, limits: JobLimits, what: str) -> None:
    if width * height > limits.max_pixels:
        raise Refusal(413, f"{path.name[3:]}: a {what} of {width}x{height} is over this server's limit of "
                           f"{limits.max_pixels / 1e6:g} megapixels; scale it down")


def _check_video(path: Path, limits: JobLimits) -> None:
    import av

    try:
        with av.open(str(path)) as container:  # the header's size, before any frame is decoded
            stream = container.streams.video[0]
            _check_pixels(path, stream.codec_context.width, stream.codec_context.height, limits, "video frame")
    except (av.FFmpegError, IndexError, OSError):
        pass  # probe_video names the file and the fault
    info = probe_video(str(path))
    _check_pixels(path, info.width, info.height, limits, "video frame")
    if info.frame_count > limits.max_video_frames or not math.isfinite(info.duration) \
            or info.duration > limits.max_video_seconds:
        raise Refusal(413, f"{path.name[3:]}: {info.frame_count} frames over {info.duration:.0f} s is over this "
                           f"server's limit of {limits.max_video_frames} frames and {limits.max_video_seconds:g} s; "
                           "send a shorter clip or trim it")

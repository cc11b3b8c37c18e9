"""Checks on the paths a run reads and writes, made before any work starts, each failing with one line
that names the path and says what to do."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ..errors import InvalidInputError, os_advice

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
"""Pictures a run reads (as a target, a source or a reference)."""
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
"""Videos a run reads as a target."""


def is_image_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def unsupported_target(path: str | os.PathLike[str], video: bool = True) -> str:
    """The one line for a target of a type no run reads (``video``: whether a video would do here)."""
    wanted = "an image (jpg, png, webp, bmp, tiff)" + (" or a video (mp4, mov, mkv, webm, avi)" if video else "")
    return f"unsupported target type '{Path(path).suffix}': {Path(path).name}; give {wanted}"


TEMPORARY_NAME_EXTRA = 24
"""Bytes the names of an output's temporaries add to its own (``.NAME.assembling.mp4``, ``NAME.parts``)."""


def existing_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path when it names a readable, non-empty regular file."""
    file = Path(path)
    try:
        status = file.stat()
    except FileNotFoundError:
        raise InvalidInputError(f"file not found: {file}") from None
    except OSError as error:
        raise InvalidInputError(f"cannot read {file}: {os_advice(error)}") from None
    if stat.S_ISDIR(status.st_mode):
        raise InvalidInputError(f"{file} is a folder, not a file; give the photo or video inside it")
    if not stat.S_ISREG(status.st_mode):
        raise InvalidInputError(f"{file} is not a regular file (a device or a pipe); give a photo or video file")
    if status.st_size == 0:
        raise InvalidInputError(f"file is empty: {file}")
    if not os.access(file, os.R_OK):
        raise InvalidInputError(f"cannot read {file}: permission denied; check the file's permissions")
    return file


def same_file(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> bool:
    """Whether two paths lead to one file (``realpath`` never fails on a loop of links, ``resolve`` does)."""
    return os.path.realpath(first) == os.path.realpath(second)


def _folder(output: Path) -> Path:
    return output.parent if str(output.parent) else Path(".")


def check_name_length(output: Path) -> None:
    """Refuse an output file name too long for its folder's file system (with room for its temporaries'
    names); checked before anything else looks at the path, which would fail on it."""
    try:
        limit = os.pathconf(_folder(output), "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    length = len(output.name.encode())
    if length + TEMPORARY_NAME_EXTRA > limit:
        raise InvalidInputError(f"output file name is too long ({length} bytes, at most "
                                f"{limit - TEMPORARY_NAME_EXTRA} here): {output.name[:40]}...; choose a shorter name")


def check_writable_folder(output: Path) -> None:
    """Refuse an output whose folder cannot take it: not writable by this user, or a read-only or virtual
    file system such as /proc. A file is made and removed there, which answers for root, ACLs and mounts
    alike where permission bits do not."""
    folder = _folder(output)
    try:
        handle, probe = tempfile.mkstemp(prefix=".facefusion-write-check-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except FileNotFoundError:  # the folder is there, but it takes no new files
        raise InvalidInputError(f"cannot write to the output folder {folder}: it takes no new files (a virtual "
                                "file system such as /proc?); choose a folder on a disk") from None
    except OSError as error:
        raise InvalidInputError(f"cannot write to the output folder {folder}: {os_advice(error)}") from None

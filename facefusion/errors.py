"""Typed errors. Library code raises these; only the CLI turns them into exit codes and the UI into
messages, so a bad file never kills a server."""
from __future__ import annotations

import errno
import re
from pathlib import Path

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID_INPUT = 2
EXIT_REFUSED = 3
EXIT_STOPPED = 4


class StudioError(Exception):
    """Base class: carries the exit code the CLI should use and a one-line message for people."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(StudioError):
    """A file or an option the user gave cannot be used."""

    exit_code = EXIT_INVALID_INPUT


class NoSourceFaceError(InvalidInputError):
    """A source image holds no face."""


class ModelOutputError(StudioError):
    """A model returned values that are not numbers (NaN or infinity)."""


class RefusedError(StudioError):
    """A safety check refused the run (a protected person, the content check)."""

    exit_code = EXIT_REFUSED


class StoppedError(StudioError):
    """The user asked the run to stop."""

    exit_code = EXIT_STOPPED


class StorageError(StudioError):
    """The disk or the file system refused a read or a write during a run (full, read-only, gone)."""


_ADVICE = {
    errno.ENOSPC: "the disk is full; free some space (or choose another output folder) and run again",
    errno.EDQUOT: "the disk quota is used up; free some space (or choose another output folder) and run again",
    errno.EROFS: "the file system is read-only; choose another output folder",
    errno.EACCES: "permission denied; choose a folder you may write to, or change its permissions",
    errno.EPERM: "not permitted; choose a folder you may write to, or change its permissions",
    errno.ENAMETOOLONG: "the file name is too long for this file system; choose a shorter name",
    errno.ELOOP: "it is a loop of symbolic links; point the link at a real file",
    errno.ENOENT: "it does not exist",
    errno.EIO: "the disk reported an input/output error; check the disk and run again",
    errno.EFBIG: "the file is larger than this file system allows; choose another output folder",
}


STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG})
"""Errors of the disk or file system rather than of a file's contents."""


def os_advice(error: OSError) -> str:
    """What an operating-system error means for the user and what to do, in a few words."""
    return _ADVICE.get(error.errno or -1, error.strerror or str(error))


def storage_error(error: OSError, path: object | None = None, doing: str = "use") -> StorageError:
    """One line for an operating-system error: the path it concerns and what to do (no traceback)."""
    where = path if path is not None else (error.filename or "a file")
    return StorageError(f"cannot {doing} {where}: {os_advice(error)}")


_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:;,'\"()]+/)+([^\s/:;,'\"()]+)")


def without_server_paths(message: str) -> str:
    """``message`` with every absolute path shortened to its file name: a visitor sees the name of the
    file they uploaded, never where the server keeps it."""
    return _ABSOLUTE_PATH.sub(lambda match: Path(match.group(0)).name, message)

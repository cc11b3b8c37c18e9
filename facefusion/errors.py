"""Typed errors. Library code raises these; only the CLI turns them into exit codes and the UI into
messages, so a bad file never kills a server."""
from __future__ import annotations

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


class StoppedError(StudioError):
    """The user asked the run to stop."""

    exit_code = EXIT_STOPPED

"""API keys: a file of ``NAME KEY [queued=N] [upload=SIZE]`` lines; a request's ``Authorization: Bearer KEY``
names its caller. ``queued`` and ``upload`` are that caller's own limits (jobs queued or running at once,
bytes a request may upload) in place of the server's ``--max-queued-jobs`` and ``--max-upload-size``."""
from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInputError
from ..units import parse_size

logger = logging.getLogger("facefusion")

MIN_KEY_LENGTH = 16
LINE_FORM = "NAME KEY [queued=N] [upload=SIZE]"


@dataclass(frozen=True)
class Caller:
    key: str
    max_queued_jobs: int | None = None
    """None: the server's limit."""
    max_upload_bytes: int | None = None


def _limits(fields: list[str], where: str) -> dict[str, int]:
    limits: dict[str, int] = {}
    for field in fields:
        name, _, value = field.partition("=")
        try:
            if name == "queued" and int(value) >= 1:
                limits["max_queued_jobs"] = int(value)
                continue
            if name == "upload":
                limits["max_upload_bytes"] = parse_size(value)
                continue
        except ValueError:
            pass
        raise InvalidInputError(f"--api-keys: {where}: '{field}' is not queued=N (1 or more) or upload=SIZE "
                                "(e.g. upload=200mb)")
    return limits


def load_keys(path: str | Path) -> dict[str, Caller]:
    """Name -> caller. Blank lines and ``#`` comments are skipped; a short or repeated key is refused."""
    try:
        lines = Path(path).read_text().splitlines()
        shared = Path(path).stat().st_mode & 0o077
    except OSError as error:
        raise InvalidInputError(f"--api-keys: cannot read {path}: {error.strerror}") from None
    if shared:
        logger.warning("--api-keys: %s can be read by other users of this machine; chmod 600 it", path)
    callers: dict[str, Caller] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2:
            raise InvalidInputError(f"--api-keys: line {number} of {path} is not '{LINE_FORM}'")
        name, key = parts[:2]
        if len(key) < MIN_KEY_LENGTH:
            raise InvalidInputError(f"--api-keys: the key of '{name}' is shorter than {MIN_KEY_LENGTH} characters")
        if name in callers or key in (caller.key for caller in callers.values()):
            raise InvalidInputError(f"--api-keys: '{name}' or its key appears twice in {path}")
        callers[name] = Caller(key, **_limits(parts[2:], f"line {number} of {path}"))
    if not callers:
        raise InvalidInputError(f"--api-keys: {path} holds no '{LINE_FORM}' line")
    return callers


def caller_of(authorization: str | None, callers: dict[str, Caller]) -> str | None:
    """The name whose key the header carries (None without a valid one). Every key is compared, in constant
    time, so the answer's timing says nothing about which key came close."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    given = authorization[len("Bearer "):].strip().encode()
    found = None
    for name, caller in callers.items():
        if hmac.compare_digest(given, caller.key.encode()):
            found = name
    return found

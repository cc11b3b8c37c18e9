"""API keys: a file of ``NAME KEY`` lines; a request's ``Authorization: Bearer KEY`` names its caller."""
from __future__ import annotations

import hmac
from pathlib import Path

from ..errors import InvalidInputError

MIN_KEY_LENGTH = 16


def load_keys(path: str | Path) -> dict[str, str]:
    """Name -> key. Blank lines and ``#`` comments are skipped; a short or repeated key is refused."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise InvalidInputError(f"--api-keys: cannot read {path}: {error.strerror}") from None
    keys: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise InvalidInputError(f"--api-keys: line {number} of {path} is not 'NAME KEY'")
        name, key = parts
        if len(key) < MIN_KEY_LENGTH:
            raise InvalidInputError(f"--api-keys: the key of '{name}' is shorter than {MIN_KEY_LENGTH} characters")
        if name in keys or key in keys.values():
            raise InvalidInputError(f"--api-keys: '{name}' or its key appears twice in {path}")
        keys[name] = key
    if not keys:
        raise InvalidInputError(f"--api-keys: {path} holds no 'NAME KEY' line")
    return keys


def caller_of(authorization: str | None, keys: dict[str, str]) -> str | None:
    """The name whose key the header carries (None without a valid one). Every key is compared, in constant
    time, so the answer's timing says nothing about which key came close."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    given = authorization[len("Bearer "):].strip().encode()
    found = None
    for name, key in keys.items():
        if hmac.compare_digest(given, key.encode()):
            found = name
    return found

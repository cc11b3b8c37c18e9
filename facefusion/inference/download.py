"""Model files: where they live, fetching them (resumable, retried, mirror by mirror), verifying them.

A download goes to ``<file>.part`` and is renamed only once its checksum matches, so a half-written or
corrupt file never sits under a model's name. Offline, a missing model fails at once with a message
that names the file, the addresses it is published at, and the folder to put it in.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInputError, StudioError
from .catalogue import ModelEntry, find

logger = logging.getLogger("facefusion")

MODELS_ENV = "FACEFUSION_MODELS_DIR"
CHUNK = 1 << 16
USER_AGENT = "facefusion-studio"
FIRST_ANSWER_TIMEOUT = 5.0
"""Seconds a host has to answer the first (small) request before the next mirror is tried."""
Progress = Callable[[int, int | None], None]
"""Called with (bytes so far, total bytes or None)."""


class ModelMissingError(InvalidInputError):
    """A model is needed but not present and cannot be fetched (exit code 2)."""


class ChecksumError(StudioError):
    """A downloaded file did not match its published checksum (it was removed)."""


def models_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--models-dir``, else $FACEFUSION_MODELS_DIR, else ``models/`` beside the package."""
    if explicit:
        return Path(explicit)
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV])
    return Path(__file__).resolve().parents[2] / "models"


def model_path(entry: ModelEntry, folder: Path) -> Path:
    return folder / entry.file


def is_present(name: str, folder: Path) -> bool:
    """Whether the catalogue model ``name`` (or a detector alias) has its file in ``folder``."""
    return model_path(find(name), folder).is_file()


def hash_path(entry: ModelEntry, folder: Path) -> Path:
    return folder / f"{entry.file}.hash"


def crc32_of(path: Path) -> str:
    value = 0
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            value = zlib.crc32(chunk, value)
    return f"{value & 0xFFFFFFFF:08x}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Checksum:
    kind: str  # "sha256" or "crc32"
    value: str

    def matches(self, path: Path) -> bool:
        actual = sha256_of(path) if self.kind == "sha256" else crc32_of(path)
        return actual == self.value.lower()


def missing_message(entry: ModelEntry, folder: Path, reasons: list[str] | None = None) -> str:
    message = (f"model file {entry.file} ({entry.name}) is missing: download it with `facefusion models download "
               f"{entry.name}` or put it in {folder}; it is published at {' or '.join(entry.urls)}")
    if reasons:
        message += f" (tried: {'; '.join(reasons)})"
    return message


def require(entry: ModelEntry, folder: Path) -> Path:
    """The model's path when present; ModelMissingError (exit 2) otherwise, never a download or a wait."""
    path = model_path(entry, folder)
    if not path.is_file():
        raise ModelMissingError(missing_message(entry, folder))
    return path


def _open(url: str, timeout: float, start: int = 0) -> urllib.response.addinfourl:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - catalogue URLs are https/http only


def _published_checksum(entry: ModelEntry, url: str, timeout: float) -> Checksum:
    if entry.sha256:
        return Checksum("sha256", entry.sha256)
    if entry.crc32:
        return Checksum("crc32", entry.crc32)
    with _open(f"{url}.hash", timeout) as response:
        value = response.read(64).decode("ascii", "replace").strip().lower()
    if len(value) != 8 or any(character not in "0123456789abcdef" for character in value):
        raise ChecksumError(f"the published checksum of {entry.file} at {url}.hash is not a CRC32")
    return Checksum("crc32", value)


def _fetch(url: str, part: Path, timeout: float, retries: int, progress: Progress | None) -> None:
    """Fetch ``url`` into ``part``, continuing from what ``part`` already holds, retrying cuts."""
    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        try:
            with _open(url, timeout, have) as response:
                if have and response.status != 206:
                    have = 0  # the server ignored the range: start over
                length = response.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                with part.open("ab" if have else "wb") as stream:
                    done = have
                    while True:
                        chunk = response.read(CHUNK)
                        if not chunk:
                            break
                        stream.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
                if total is not None and done < total:
                    raise ConnectionError(f"connection closed after {done} of {total} bytes")
                return
        except urllib.error.HTTPError as error:
            if error.code == 416 and have:  # asked past the end: the file is already whole
                return
            raise
        except (ConnectionError, TimeoutError, urllib.error.URLError, OSError, http.client.HTTPException) as error:  # HTTPException: e.g. IncompleteRead on a cut
            if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, (TimeoutError, socket.timeout,
                                                                                           ConnectionError)):
                raise  # refused, no route, unknown host: no use retrying this address
            attempt += 1
            if attempt > retries:
                raise
            logger.info("download of %s interrupted (%s); resuming (%d/%d)", url, error, attempt, retries)
            time.sleep(min(2.0, 0.2 * attempt))


def download(entry: ModelEntry, folder: Path, *, urls: tuple[str, ...] | None = None, timeout: float = 15.0,
             retries: int = 3, progress: Progress | None = None) -> Path:
    """Fetch one model into ``folder`` (mirrors in order), verify it, and place it atomically.

    Returns the model's path. Raises ModelMissingError when no address could deliver it and
    ChecksumError when what arrived did not match its checksum (the bad file is removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = model_path(entry, folder)
    part = target.with_name(target.name + ".part")
    reasons: list[str] = []
    mismatches = 0
    for url in urls or entry.urls:
        logger.info("fetching %s from %s", entry.file, urllib.parse.urlsplit(url).netloc)
        try:
            # The small checksum file answers first: a host that does not answer it within a few seconds
            # (a firewall that drops packets) is left for the next one instead of holding the user up.
            checksum = _published_checksum(entry, url, min(timeout, FIRST_ANSWER_TIMEOUT))
            _fetch(url, part, timeout, retries, progress)
        except urllib.error.HTTPError as error:
            reasons.append(f"{url}: HTTP {error.code}")
            continue
        except (urllib.error.URLError, OSError, ConnectionError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            reasons.append(f"{url}: {reason}")
            continue
        if not checksum.matches(part):
            part.unlink(missing_ok=True)
            mismatches += 1
            reasons.append(f"{url}: checksum mismatch")
            logger.warning("%s from %s did not match its %s checksum and was removed", entry.file, url, checksum.kind)
            continue
        os.replace(part, target)
        hash_path(entry, folder).write_text(f"{checksum.kind}:{checksum.value}\n")
        return target
    if mismatches:
        raise ChecksumError(f"{entry.file}: every download failed its checksum and was removed "
                            f"({'; '.join(reasons)}); try again later or put a good copy in {folder}")
    raise ModelMissingError(missing_message(entry, folder, reasons))


@dataclass(frozen=True)
class Verification:
    entry: ModelEntry
    state: str
    """"ok", "missing", "corrupt" or "unverified" (present, but no checksum recorded)."""


def verify(entry: ModelEntry, folder: Path) -> Verification:
    path = model_path(entry, folder)
    if not path.is_file():
        return Verification(entry, "missing")
    known = (Checksum("sha256", entry.sha256) if entry.sha256 else
             Checksum("crc32", entry.crc32) if entry.crc32 else None)
    recorded = hash_path(entry, folder)
    if known is None and recorded.is_file():
        kind, _, value = recorded.read_text().strip().partition(":")
        known = Checksum(kind, value) if value else Checksum("crc32", kind)
    if known is None:
        return Verification(entry, "unverified")
    return Verification(entry, "ok" if known.matches(path) else "corrupt")

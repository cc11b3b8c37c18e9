"""Remembering recent analyses by the pixels they were made from (for the web UI's preview)."""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

import numpy as np

from ..types import FrameBGR


def frame_digest(frame: FrameBGR) -> bytes:
    """A short fingerprint of a frame's pixels (about 5 ms for 1080p): the key of remembered analyses."""
    digest = hashlib.blake2b(np.ascontiguousarray(frame).data.cast("B"), digest_size=16)
    digest.update(str(frame.shape).encode())
    return digest.digest()


Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class Memo(Generic[Key, Value]):
    """The last few results by key (least recently used goes first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Key, Value] = OrderedDict()

    def get(self, key: Key) -> Value | None:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, key: Key, value: Value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

"""OpenCV's own worker threads, turned off while a video renders.

A video run keeps the cores busy with threads of its own (decoder, tracking, drawing workers,
encoder); OpenCV splitting each resize, warp and remap over its pool as well only adds hand-overs
between them (measured on 2 cores: 5-7 % less CPU a frame and 5 % more frames a second without it).
A single picture keeps the pool: there it shortens the wait.

OpenCV's thread count is one setting for the whole process, so runs that overlap (several clips from
the web UI or a batch) count themselves in and out under a lock, and the last one out puts the
setting back as it found it.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import cv2

_lock = threading.Lock()
_state = {"runs": 0, "saved": 0}
"""How many runs hold OpenCV single-threaded, and its thread count before the first of them."""


@contextmanager
def single_threaded_opencv() -> Iterator[None]:
    with _lock:
        if _state["runs"] == 0:
            _state["saved"] = cv2.getNumThreads()
            cv2.setNumThreads(1)
        _state["runs"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["runs"] -= 1
            if _state["runs"] == 0:
                cv2.setNumThreads(_state["saved"])

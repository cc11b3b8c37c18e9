"""Face-swap and face-enhancement studio: the core library.

The public names below are imported on first use (PEP 562), so that a command that fails on its arguments, or
only prints something, starts without loading the engine's libraries.
"""
from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# OpenBLAS's thread pool spins on the tiny matrices this library uses and slows everything down
# (measured: 100x on 2 cores). It only takes effect when numpy is not imported yet.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .version import __version__  # noqa: E402 (after the environment above)

if TYPE_CHECKING:
    from .api import ImageResult, Studio, swap_image
    from .batch import swap_batch
    from .errors import InvalidInputError, NoSourceFaceError, StudioError
    from .options import Options
    from .pipeline import Job, Progress, RunResult, run, run_to_end, swap_video

_HOMES = {
    "ImageResult": "api", "Studio": "api", "swap_image": "api", "swap_batch": "batch",
    "InvalidInputError": "errors", "NoSourceFaceError": "errors", "StudioError": "errors", "Options": "options",
    "Job": "pipeline", "Progress": "pipeline", "RunResult": "pipeline", "run": "pipeline", "run_to_end": "pipeline",
    "swap_video": "pipeline",
}

__all__ = ["ImageResult", "InvalidInputError", "Job", "NoSourceFaceError", "Options", "Progress", "RunResult",
           "Studio", "StudioError", "run", "run_to_end", "swap_batch", "swap_image", "swap_video", "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'facefusion' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value

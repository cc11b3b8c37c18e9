"""Face-swap and face-enhancement studio: the core library."""
from __future__ import annotations

import os

# OpenBLAS's thread pool spins on the tiny matrices this library uses and slows everything down
# (measured: 100x on 2 cores). It only takes effect when numpy is not imported yet.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .api import ImageResult, Studio, swap_image
from .batch import swap_batch
from .errors import InvalidInputError, NoSourceFaceError, StudioError
from .options import Options
from .pipeline import Job, Progress, RunResult, run, run_to_end, swap_video
from .version import __version__  # noqa: E402 (after the environment above)

__all__ = ["ImageResult", "InvalidInputError", "Job", "NoSourceFaceError", "Options", "Progress", "RunResult",
           "Studio", "StudioError", "run", "run_to_end", "swap_batch", "swap_image", "swap_video", "__version__"]

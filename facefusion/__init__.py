"""Face-swap and face-enhancement studio: the core library."""
from __future__ import annotations

__version__ = "0.1.0"

from .api import ImageResult, Studio, swap_image
from .errors import InvalidInputError, NoSourceFaceError, StudioError
from .options import Options

__all__ = ["ImageResult", "InvalidInputError", "NoSourceFaceError", "Options", "Studio", "StudioError",
           "swap_image", "__version__"]

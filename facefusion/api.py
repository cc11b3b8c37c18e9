"""The public Python API: ``swap_image``, the one-call form.

A :class:`Studio` (the engine, ``facefusion.engine``) keeps its models loaded between calls, for scripts
that process many images.
"""
from __future__ import annotations

import os
from typing import Any

from .engine import PathLike, Studio
from .image_job import ImageResult
from .options import Options, make_options
from .types import FrameBGR

__all__ = ["ImageResult", "Studio", "swap_image"]


def swap_image(sources: PathLike | list[PathLike], target: PathLike, output: PathLike | None = None, *,
               face_map: list[str] | None = None, reference_face_path: PathLike | None = None,
               options: Options | None = None, **option_values: Any) -> FrameBGR:
    """Swap the face(s) of ``sources`` onto ``target``; return the result as a BGR array and write it
    to ``output`` when given. Option names are those of :class:`facefusion.Options`, e.g.
    ``face_selector_mode="many"``. Raises :class:`facefusion.errors.StudioError` subclasses on bad input."""
    source_list = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if options is None:
        options = make_options(**option_values)
    elif option_values:
        options = options.replace(**option_values)
    with Studio(options) as studio:
        return studio.swap_image(source_list, target, output, face_map, reference_face_path).frame

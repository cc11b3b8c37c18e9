"""The processor registry: name -> factory. Adding a processor is adding a line here."""
from __future__ import annotations

from typing import Callable

from ..options import Options
from .base import FrameContext, Processor
from .enhancers import FaceEnhancer, FrameEnhancer
from .face_debugger import FaceDebugger
from .face_swapper import FaceSwapper

PROCESSORS: dict[str, Callable[[Options], Processor]] = {
    FaceSwapper.name: FaceSwapper,
    FaceEnhancer.name: FaceEnhancer,
    FrameEnhancer.name: FrameEnhancer,
    FaceDebugger.name: FaceDebugger,
}


def create_processors(options: Options) -> list[Processor]:
    """Processors in the order the options name them."""
    return [PROCESSORS[name](options) for name in options.processors]


__all__ = ["PROCESSORS", "FrameContext", "Processor", "create_processors"]

"""The processor registry: name -> factory. Adding a processor is adding a line here."""
from __future__ import annotations

from typing import Callable

from ..inference.runtime import SessionPool, execution_settings
from ..options import Options
from .base import FrameContext, Processor, run_processors
from .enhancers import FaceEnhancer, FrameEnhancer
from .face_debugger import FaceDebugger
from .face_swapper import FaceSwapper

PROCESSORS: dict[str, Callable[[Options, SessionPool], Processor]] = {
    FaceSwapper.name: FaceSwapper,
    FaceEnhancer.name: FaceEnhancer,
    FrameEnhancer.name: FrameEnhancer,
    FaceDebugger.name: FaceDebugger,
}


def create_processors(options: Options, pool: SessionPool | None = None) -> list[Processor]:
    """Processors in the order the options name them, sharing one set of model sessions."""
    pool = pool or SessionPool(execution_settings(options))
    return [PROCESSORS[name](options, pool) for name in options.processors]


__all__ = ["PROCESSORS", "FrameContext", "Processor", "create_processors", "run_processors"]

"""The processor registry: name -> factory. Adding a processor is adding a line here."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..inference.runtime import SessionPool, execution_settings
from ..options import Options
from .age_modifier import AgeModifier
from .background_remover import BackgroundRemover
from .base import Drawn, FrameContext, Processor, declined_faces, run_processors
from .enhancers import FaceEnhancer, FrameEnhancer
from .expression_restorer import ExpressionRestorer
from .face_debugger import FaceDebugger
from .face_editor import FaceEditor
from .face_swapper import FaceSwapper


class ProcessorClass(Protocol):
    """A processor's class: what it needs is known before it is made (a front end checks the inputs first)."""

    needs_source: bool
    live_refusal: str | None
    """Why it cannot run on a live camera (None: it can)."""

    def __call__(self, options: Options, pool: SessionPool) -> Processor: ...


PROCESSORS: dict[str, ProcessorClass] = {
    FaceSwapper.name: FaceSwapper,
    FaceEnhancer.name: FaceEnhancer,
    FrameEnhancer.name: FrameEnhancer,
    FaceDebugger.name: FaceDebugger,
    BackgroundRemover.name: BackgroundRemover,
    AgeModifier.name: AgeModifier,
    FaceEditor.name: FaceEditor,
    ExpressionRestorer.name: ExpressionRestorer,
}


MISSING_SOURCE = "the face swapper needs a source: give at least one source photo (or a face map)"
"""The one line every front end gives for a run that puts a source identity somewhere without one."""


FRAME_LEVEL = ("frame_enhancer", "background_remover")
"""Processors that work on the whole frame: they need no face."""


def works_on_faces(names: Sequence[str]) -> bool:
    """Whether any of the processors ``names`` works on faces (then a picture without one is reported)."""
    return any(name not in FRAME_LEVEL for name in names)


NEEDS_MODEL = {"face_enhancer": "face_enhancer", "age_modifier": "age_modifier"}
"""Processors with no embedded model: processor -> the catalogue role one of whose files it needs."""


def missing_models() -> dict[str, str]:
    """The processors that cannot run with the models folder as it is, each with the models to add."""
    from ..inference.download import is_present, models_dir
    from ..inference.resolve import candidates
    from ..neural.live_portrait import LivePortrait

    folder = models_dir()
    missing = {}
    for processor, role in NEEDS_MODEL.items():
        names = candidates(role)
        if not any(is_present(name, folder) for name in names):
            missing[processor] = " or ".join(names)
    networks = LivePortrait.missing(folder)  # the restorer needs all three of its networks
    if networks:
        missing["expression_restorer"] = " and ".join(networks)
    return missing


def needs_source(names: Sequence[str]) -> bool:
    """Whether the processors ``names`` put a source identity somewhere (a run without a source is refused)."""
    return any(PROCESSORS[name].needs_source for name in names if name in PROCESSORS)


def live_refusals(names: Sequence[str]) -> dict[str, str]:
    """The processors of ``names`` that cannot run live, each with its reason."""
    return {name: reason for name in names if (reason := PROCESSORS[name].live_refusal) is not None}


def create_processors(options: Options, pool: SessionPool | None = None) -> list[Processor]:
    """Processors in the order the options name them, sharing one set of model sessions."""
    pool = pool or SessionPool(execution_settings(options))
    return [PROCESSORS[name](options, pool) for name in options.processors]


__all__ = ["FRAME_LEVEL", "MISSING_SOURCE", "PROCESSORS", "Drawn", "FrameContext", "Processor",
           "create_processors", "declined_faces", "live_refusals", "missing_models", "needs_source",
           "run_processors", "works_on_faces"]

"""age_modifier: each selected face made older or younger by a neural age model (fran or styleganex_age)."""
from __future__ import annotations

from typing import ClassVar

from ..analysis.classify import FaceClassifier
from ..inference.catalogue import find
from ..inference.download import is_present, model_path, models_dir
from ..inference.resolve import resolve_model
from ..inference.runtime import SessionPool
from ..neural.age import AgeModel
from ..options import Options
from ..types import Face, FrameBGR
from .base import FrameContext
from .masks import occlusion_masker

ASSUMED_AGE = 30
"""The present age fran starts from when neither FairFace nor --age-modifier-current-age gives one."""


def face_classifier(pool: SessionPool) -> FaceClassifier | None:
    """FairFace when its file is in the models folder (it is never fetched by itself)."""
    folder = models_dir()
    if not is_present("fairface", folder):
        return None
    entry = find("fairface")
    return FaceClassifier(model_path(entry, folder), entry.contract, pool)


class AgeModifier:
    name = "age_modifier"
    source_type = "compositeWithTrainedAlgorithmicMedia"
    scale = 1
    needs_mesh = False
    needs_source = False
    live_refusal: ClassVar[str | None] = None

    def __init__(self, options: Options, pool: SessionPool) -> None:
        resolved = resolve_model(options.age_modifier_model, "age_modifier", "--age-modifier-model")
        self.model = AgeModel(resolved.path, resolved.contract, pool, options.face_mask_blur,
                              occlusion_masker(options, pool))
        self.engine = f"age modifier: {resolved.description}"
        self.direction = options.age_modifier_direction
        self.fixed_age = options.age_modifier_current_age
        self.classifier = None if self.fixed_age is not None or self.model.styleganex else face_classifier(pool)
        warnings: list[str] = []
        if not self.model.styleganex and self.fixed_age is None and self.classifier is None:
            warnings.append(f"age modifier: every face was taken to be {ASSUMED_AGE} years old (FairFace is not in "
                            "the models folder: `facefusion models download fairface`, or set "
                            "--age-modifier-current-age)")
        self.warnings = tuple(warnings)

    def declines(self, face: Face) -> str | None:
        return None

    def age_of(self, frame: FrameBGR, face: Face) -> float:
        if self.fixed_age is not None:
            return float(self.fixed_age)
        return ASSUMED_AGE if self.classifier is None else self.classifier.age(frame, face)

    def process(self, frame: FrameBGR, context: FrameContext) -> FrameBGR:
        for assignment in context.assignments:
            frame = self.model.change(frame, assignment.face, self.age_of(frame, assignment.face), self.direction)
        return frame

"""The model masks the options ask for (--face-mask-types with --face-occluder-model and
--face-parser-model), made once per run and shared by the processors that paste faces back."""
from __future__ import annotations

from pathlib import Path

from ..inference.catalogue import BISENET, XSEG
from ..inference.resolve import resolve_model
from ..inference.runtime import SessionPool
from ..neural.masks import OcclusionMasker, RegionMasker
from ..options import Options


def occlusion_masker(options: Options, pool: SessionPool, folder: Path | None = None) -> OcclusionMasker | None:
    if "occlusion" not in options.face_mask_types:
        return None
    occluder = resolve_model(options.face_occluder_model, "occlusion_mask", "--face-occluder-model", XSEG, folder)
    return OcclusionMasker(occluder.path, occluder.contract, pool)


def region_masker(options: Options, pool: SessionPool, folder: Path | None = None) -> RegionMasker | None:
    if "region" not in options.face_mask_types:
        return None
    parser = resolve_model(options.face_parser_model, "region_mask", "--face-parser-model", BISENET, folder)
    return RegionMasker(parser.path, parser.contract, pool, tuple(options.face_mask_regions))

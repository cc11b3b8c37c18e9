"""Turning a model option (a catalogue name, ``auto`` or the path of a user's .onnx file) into a file."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import contracts, embedded
from .catalogue import CATALOGUE, Contract, ModelEntry, find
from .download import ModelMissingError, is_present, missing_message, model_path, models_dir, require


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    contract: Contract
    description: str
    """What runs, for logs, the UI report and the result."""
    downscale: int = 1
    """The model's output is shrunk by this factor (an x2 made from an x4 network)."""


def choose(names: Sequence[str], folder: Path, needs: Sequence[str] = ()) -> str | None:
    """What ``auto`` picks, for every model option: the first of ``names`` whose file is in the models folder,
    when every model of ``needs`` is there too (a swapper needs its identity encoder); None when none is."""
    if not all(is_present(name, folder) for name in needs):
        return None
    return next((name for name in names if is_present(name, folder)), None)


def candidates(role: str) -> tuple[str, ...]:
    """Catalogue names for a role, in catalogue order (the best first)."""
    return tuple(entry.name for entry in CATALOGUE if entry.role == role)


def _describe(entry: ModelEntry) -> str:
    return f"{entry.name} ({entry.licence_label})"


def _embedded(model: embedded.EmbeddedModel, folder: Path, note: str = "") -> ResolvedModel:
    return ResolvedModel(embedded.converted_path(model, folder), model.contract,
                         f"{model.name} (embedded Real-ESRGAN {model.network}, {embedded.LICENCE}){note}",
                         model.downscale)


def resolve_model(choice: str, role: str, slot: str, contract: Contract | None = None,
                  folder: Path | None = None) -> ResolvedModel:
    """``auto``: the first model of the role present in the models folder; a name: that model (which
    must be present: never a silent download); a ``.onnx`` path: the user's file, checked against the
    slot's contract (``contract``, or the role's first model's). Frame enhancers also have the
    embedded models (see embedded.py): ``auto`` takes one when no catalogue file is present."""
    folder = folder or models_dir()
    model = embedded.find_embedded(choice)
    if model is not None:
        return _embedded(model, folder)
    if choice.lower().endswith(".onnx"):
        slot_contract = contract or find(candidates(role)[0]).contract
        path = contracts.check(Path(choice), slot_contract, slot)
        return ResolvedModel(path, slot_contract, f"your model {path.name}")
    if choice == "auto":
        chosen = choose(candidates(role), folder)
        if chosen is not None:
            entry = find(chosen)
            return ResolvedModel(model_path(entry, folder), entry.contract, _describe(entry) + ", chosen by auto")
        fallback = embedded.find_embedded(embedded.PHOTO_DEFAULT)
        if role == "frame_enhancer" and fallback is not None and embedded.is_available(fallback):
            return _embedded(fallback, folder, ", chosen by auto: no downloaded model")
        first = find(candidates(role)[0])
        raise ModelMissingError(f"{slot} auto: no {role.replace('_', ' ')} model in {folder}; "
                                + missing_message(first, folder))
    entry = find(choice)
    return ResolvedModel(require(entry, folder), entry.contract, _describe(entry))


def served_model_option(name: str, value: Any) -> Any:
    """A model option's value as a server others reach accepts it: a catalogue name, or a .onnx file of the
    models folder named by its file name only, never a path elsewhere (an answer to a path would tell a
    stranger whether some file of the server exists). Other options pass unchanged."""
    from ..errors import InvalidInputError
    from ..options import option_specs

    spec = option_specs().get(name)
    if spec is None or not spec.accepts_onnx_path or not isinstance(value, str) \
            or not value.lower().endswith(".onnx"):
        return value
    inside = models_dir() / value
    if "/" in value or "\\" in value or value.startswith(".") or not inside.is_file():
        raise InvalidInputError(f"{spec.flag}: name a model of the catalogue or a .onnx file of the server's "
                                "models folder by its file name")
    return str(inside)

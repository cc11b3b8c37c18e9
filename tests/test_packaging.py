"""What the library imports is what requirements.txt installs: a package that is only in the
development set (or only on this machine) would break a fresh install, a Space or `pip install .`."""
from __future__ import annotations

import ast
import functools
import re
import sys
from importlib import metadata

from conftest import ROOT

OPTIONAL = {"spaces", "pyvirtualcam"}
"""Imported only where it exists: Hugging Face Spaces' GPU decorator; the live extra's virtual camera (`make live`,
GPL-2.0, imported only when a virtual camera is chosen)."""
KNOWN = {"dlib": ["dlib-bin"]}
"""Modules whose wheel does not list them in its metadata."""


def _third_party_imports() -> set[str]:
    found: set[str] = set()
    for path in [ROOT / "app.py", *(ROOT / "facefusion").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    local = {path.stem for path in [*ROOT.glob("*.py"), *(ROOT / "examples").glob("*.py")]} | {"facefusion"}
    return {name for name in found if name not in sys.stdlib_module_names} - local - OPTIONAL


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(name: str) -> set[str]:
    return {_normalised(re.split(r"[=<>\[]", line)[0]) for line in (ROOT / name).read_text().splitlines()
            if line.strip() and not line.startswith("#")}


@functools.lru_cache(maxsize=1)
def _installed() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def _distributions_of(module: str) -> set[str]:
    return {_normalised(name) for name in _installed().get(module, KNOWN.get(module, [module]))}


def test_every_imported_package_is_a_runtime_requirement():
    """Runtime packages are in requirements.txt; the job API's scale-out parts may be in requirements-cluster.txt
    (an optional extra) as long as nothing imports them when the module loads."""
    required, cluster = _requirements("requirements.txt"), _requirements("requirements-cluster.txt")
    missing = {}
    for module in sorted(_third_party_imports()):
        names = _distributions_of(module)
        if not names & (required | cluster):
            missing[module] = sorted(names)
    assert not missing, f"imported by app.py or facefusion/ but not in requirements.txt: {missing}"


def test_optional_packages_are_imported_only_where_they_are_used():
    cluster = _requirements("requirements-cluster.txt") - _requirements("requirements.txt")
    at_load = []
    for path in [ROOT / "app.py", *(ROOT / "facefusion").rglob("*.py")]:
        for node in ast.parse(path.read_text()).body:  # module level only
            modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                       [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            at_load += [f"{path.name}: {module}" for module in modules
                        if _distributions_of(module.split(".")[0]) & cluster]
    assert not at_load, f"optional packages imported when a module loads: {at_load}"

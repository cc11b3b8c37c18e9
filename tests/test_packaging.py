"""What the library imports is what requirements.txt installs: a package that is only in the
development set (or only on this machine) would break a fresh install, a Space or `pip install .`."""
from __future__ import annotations

import ast
import re
import sys
from importlib import metadata

from conftest import ROOT

OPTIONAL = {"spaces"}
"""Imported only where it exists (Hugging Face Spaces' GPU decorator)."""
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


def test_every_imported_package_is_a_runtime_requirement():
    required = {_normalised(line.split("==")[0]) for line in (ROOT / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    distributions = metadata.packages_distributions()
    missing = {}
    for module in sorted(_third_party_imports()):
        names = {_normalised(name) for name in distributions.get(module, KNOWN.get(module, [module]))}
        if not names & required:
            missing[module] = sorted(names)
    assert not missing, f"imported by app.py or facefusion/ but not in requirements.txt: {missing}"

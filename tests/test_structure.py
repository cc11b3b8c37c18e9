"""The package's shape, kept: short functions, small classes, imports that run one way and never in a circle.

Each check reads the source (no imports), names every place that breaks it, and says what to do.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "facefusion"
LONGEST_FUNCTION = 80
"""Lines, docstring and comments included: longer than a screen is longer than a reader holds at once."""
MOST_METHODS = 15

STILL_TOO_LONG: set[str] = set()
"""Units over the limits that are known and waiting to be split (none now). The lists only shrink: a unit that is
fixed must leave them (see below)."""
STILL_TOO_BIG: set[str] = set()

LAYERS = (
    ("facefusion.types", "facefusion.errors", "facefusion.timing", "facefusion.permissions", "facefusion.console",
     "facefusion.durable", "facefusion.version", "facefusion.units"),
    ("facefusion.options", "facefusion.media", "facefusion.inference"),
    ("facefusion.analysis", "facefusion.classical", "facefusion.neural"),
    ("facefusion.assign", "facefusion.sources", "facefusion.safety", "facefusion.parts", "facefusion.processors"),
    ("facefusion.image_job", "facefusion.engine", "facefusion.run_types"),
    ("facefusion.video_plan", "facefusion.frames", "facefusion.ledger"),
    ("facefusion.video_job",),
    ("facefusion.pipeline", "facefusion.batch"),
    ("facefusion.workers",),
    ("facefusion.api", "facefusion.service", "facefusion.workers.local", "facefusion.ui", "facefusion.cli",
     "facefusion.system", "facefusion.__main__", "facefusion"),
)
"""The floors, lowest first: a module imports from its own floor or below."""
UPWARD_ALLOWED: set[tuple[str, str]] = set()
"""Arrows up a floor that are there on purpose (none today; the must-show allows one, named here with why)."""


def _sources() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def test_no_function_is_longer_than_a_screen_and_no_class_has_too_many_methods() -> None:
    long_units, big_classes = set(), set()
    for path in _sources().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LONGEST_FUNCTION:
                    long_units.add(f"{_name(path)}:{node.name}")
            elif isinstance(node, ast.ClassDef):
                methods = [item for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
                if len(methods) > MOST_METHODS:
                    big_classes.add(f"{_name(path)}:{node.name}")
    assert long_units <= STILL_TOO_LONG, (
        f"over {LONGEST_FUNCTION} lines: {sorted(long_units - STILL_TOO_LONG)}; split it into named steps")
    assert big_classes <= STILL_TOO_BIG, (
        f"over {MOST_METHODS} methods: {sorted(big_classes - STILL_TOO_BIG)}; give part of its job to another class")
    assert not STILL_TOO_LONG - long_units, f"fixed, so take them off STILL_TOO_LONG: {STILL_TOO_LONG - long_units}"
    assert not STILL_TOO_BIG - big_classes, f"fixed, so take them off STILL_TOO_BIG: {STILL_TOO_BIG - big_classes}"


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's imports of the package's modules, at import time or in a function (a deferred import is
    still a dependency); imports for the type checker only do not count."""
    edges: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        typing_only = {id(inner) for node in ast.walk(tree)
                       if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                       for inner in ast.walk(node)}
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module or ""
                names = [f"{base}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    found.add(name)
        edges[module] = found
    return edges


def _floor(module: str) -> int:
    best, floor = -1, -1
    for number, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, floor = len(name), number
    assert floor >= 0, f"{module} is on no floor: add it to LAYERS in tests/test_structure.py"
    return floor


def test_imports_run_down_the_floors_and_never_in_a_circle() -> None:
    modules = _sources()
    edges = _imports(modules)
    upward = {(module, target) for module, targets in edges.items() for target in targets
              if _floor(target) > _floor(module)}
    assert upward <= UPWARD_ALLOWED, f"imports up a floor: {sorted(upward - UPWARD_ALLOWED)}"
    # A circle: a module that reaches itself through the imports.
    for start in edges:
        seen, stack = set(), list(edges[start])
        while stack:
            module = stack.pop()
            assert module != start, f"{start} imports itself through {sorted(seen)}"
            if module not in seen:
                seen.add(module)
                stack.extend(edges.get(module, ()))

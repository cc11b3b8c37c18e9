"""Importing mediapipe without its plotting library, and without its costly result type.

``import mediapipe`` loads its drawing helpers, which import matplotlib's pyplot (about 0.8 s of every
start on 2 cores, 0.3 s of it the package alone) for a function this project never calls. While
mediapipe is imported, placeholders stand in for matplotlib and pyplot (unless matplotlib is loaded
already); they are removed at once, so anyone who imports matplotlib later gets the real one.

Every ``process()`` call of a mediapipe solution builds a new ``collections.namedtuple`` class for its
result and sets the outputs as attributes of that class (about 3 ms a call, holding the interpreter
lock, measured with py-spy on the video pipeline: a tenth of the tracking thread). The solutions
module is given a plain class factory instead, which serves that use exactly (attributes set and
read on a fresh class) at a fraction of the cost.
"""
from __future__ import annotations

import sys
import threading
import types
from typing import Any

_lock = threading.Lock()


def mediapipe() -> Any:
    """The mediapipe module (imported once; placeholders only for what is not loaded already)."""
    if "mediapipe" in sys.modules:
        return sys.modules["mediapipe"]
    with _lock:
        if "mediapipe" in sys.modules:
            return sys.modules["mediapipe"]
        # matplotlib itself as well as pyplot: importing the package alone costs about 0.3 s.
        placeholders = {name: types.ModuleType(name) for name in ("matplotlib", "matplotlib.pyplot")
                        if name not in sys.modules}
        sys.modules.update(placeholders)
        try:
            import mediapipe as mp
        finally:
            for name, placeholder in placeholders.items():
                if sys.modules.get(name) is placeholder:
                    del sys.modules[name]
            parent, pyplot = sys.modules.get("matplotlib"), placeholders.get("matplotlib.pyplot")
            if parent is not None and pyplot is not None and getattr(parent, "pyplot", None) is pyplot:
                delattr(parent, "pyplot")
        from mediapipe.python import solution_base

        solution_base.collections = types.SimpleNamespace(namedtuple=_result_class)
        return mp


_result_classes = threading.local()


def _result_class(typename: str, field_names: Any) -> type:
    """A result class, one per thread: mediapipe sets each output as an attribute of the class it gets
    here and returns it, and every caller reads its result at once, before that thread's next call."""
    classes = _result_classes.__dict__
    if typename not in classes:
        classes[typename] = type(typename, (), {})
    return classes[typename]

"""Per-stage timings, for benchmarks and reports. Pass a Stopwatch where timings are wanted; None
costs nothing."""
from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager


class Stopwatch:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def reset(self) -> None:
        self.seconds.clear()


def timed(stopwatch: Stopwatch | None, name: str) -> AbstractContextManager[None]:
    return stopwatch.section(name) if stopwatch is not None else contextlib.nullcontext()

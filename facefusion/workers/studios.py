"""Studios kept between jobs, so that a long-lived worker (a job API thread, a Ray actor) loads its models
once rather than once per job.

A Studio is built for one set of options and one safety policy and is not thread-safe: each worker keeps
its own few (the least recently used is closed past ``size``). The model sessions underneath are shared
by every studio of the process with the same execution settings (``SessionPools``): onnxruntime's run is
thread-safe, and a GPU then holds each model once, whatever the jobs' other options.
"""
from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict

from ..engine import Studio
from ..inference.runtime import ExecutionSettings, SessionPool, execution_settings
from ..options import Options
from ..safety.policy import SafetyPolicy

STUDIOS_KEPT = 2
"""Per worker: a caller alternating two sets of options keeps both warm."""


class SessionPools:
    """One SessionPool per execution settings, for every worker of the process."""

    def __init__(self) -> None:
        self._pools: dict[ExecutionSettings, SessionPool] = {}
        self._lock = threading.Lock()

    def for_options(self, options: Options) -> SessionPool:
        settings = execution_settings(options)
        with self._lock:
            if settings not in self._pools:
                self._pools[settings] = SessionPool(settings)
            return self._pools[settings]


class StudioCache:
    """One worker's studios by (options, policy)."""

    def __init__(self, pools: SessionPools | None = None, size: int = STUDIOS_KEPT) -> None:
        self._pools = pools or SessionPools()
        self._size = max(1, size)
        self._studios: OrderedDict[str, Studio] = OrderedDict()

    def get(self, options: Options, safety: SafetyPolicy) -> Studio:
        key = json.dumps([dataclasses.asdict(options), dataclasses.asdict(safety)], sort_keys=True, default=str)
        studio = self._studios.pop(key, None)
        if studio is None:
            studio = Studio(options, safety=safety, pool=self._pools.for_options(options))
        self._studios[key] = studio  # the most recently used last
        while len(self._studios) > self._size:
            _, oldest = self._studios.popitem(last=False)
            oldest.close()
        return studio

    def close(self) -> None:
        for studio in self._studios.values():
            studio.close()
        self._studios.clear()

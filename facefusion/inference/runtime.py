"""ONNX Runtime sessions: created once per model file and provider set, shared by threads, and checked.

The most expensive failure in peer tools is a GPU run that silently fell back to the CPU. Here the
providers a session really got are compared with those asked for, and a fallback is said loudly.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from .batching import BatchedSession

if TYPE_CHECKING:
    from ..options import Options

logger = logging.getLogger("facefusion")

PROVIDER_NAMES = {
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def _onnxruntime() -> Any:
    """onnxruntime, imported when first needed, with its telemetry off: the product sends nothing, and
    where the user's home folder is not writable the library's attempt to keep its events there ends in a
    warning on the console."""
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    return onnxruntime


def available_providers() -> list[str]:
    """Short names of the execution providers this onnxruntime build offers, best first."""
    onnxruntime = _onnxruntime()
    offered = set(onnxruntime.get_available_providers())
    return [short for short, full in PROVIDER_NAMES.items() if full in offered]


@dataclass(frozen=True)
class ExecutionSettings:
    providers: tuple[str, ...] = ("cpu",)
    device_id: int = 0
    gpu_memory_fraction: float | None = None
    """Share of the GPU's memory the CUDA arena may take (None: no cap)."""
    tensorrt_cache: str | None = None
    max_batch: int = 8
    """Most rows (faces, tiles) one model run may take when the model has a free batch dimension."""


def execution_settings(options: Options) -> ExecutionSettings:
    """The runtime settings the options ask for. TensorRT builds an engine per model and GPU, which takes
    minutes: the engines are kept in the models folder's ``tensorrt-cache`` so it happens once."""
    from .download import models_dir

    cache = str(models_dir() / "tensorrt-cache") if "tensorrt" in options.execution_providers else None
    return ExecutionSettings(providers=tuple(options.execution_providers), device_id=options.execution_device_id,
                             gpu_memory_fraction=options.execution_gpu_memory_fraction or None, tensorrt_cache=cache)


def provider_list(settings: ExecutionSettings) -> list[Any]:
    """onnxruntime's provider list (with options) for the settings; unknown or unavailable names are
    refused with the list of those that are."""
    offered = available_providers()
    result: list[Any] = []
    for short in settings.providers:
        if short not in PROVIDER_NAMES:
            raise InvalidInputError(f"--execution-providers: unknown provider '{short}'; use one of "
                                    f"{', '.join(PROVIDER_NAMES)}")
        if short not in offered:
            raise InvalidInputError(f"--execution-providers: '{short}' is not available in this onnxruntime build "
                                    f"(available: {', '.join(offered)}); for CUDA install requirements-gpu.txt")
        options: dict[str, Any] = {}
        if short in ("cuda", "tensorrt", "rocm", "directml"):
            options["device_id"] = settings.device_id
        if short == "cuda" and settings.gpu_memory_fraction:
            options["gpu_mem_limit"] = int(_gpu_memory() * settings.gpu_memory_fraction)
            options["arena_extend_strategy"] = "kSameAsRequested"
        if short == "tensorrt" and settings.tensorrt_cache:
            options.update(trt_engine_cache_enable=True, trt_engine_cache_path=settings.tensorrt_cache,
                           trt_timing_cache_enable=True, trt_timing_cache_path=settings.tensorrt_cache)
        result.append((PROVIDER_NAMES[short], options))
    if "cpu" not in settings.providers:
        result.append((PROVIDER_NAMES["cpu"], {}))
    return result


def _gpu_memory() -> int:
    """Total memory of the GPU in bytes (8 GiB assumed when it cannot be read)."""
    try:
        import subprocess

        output = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                                capture_output=True, text=True, timeout=5).stdout.split()
        return int(float(output[0]) * 1024 * 1024)
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return 8 << 30


@dataclass
class SessionPool:
    """Sessions by (file, providers): made once, shared by every thread (onnxruntime's run is thread-safe)."""

    settings: ExecutionSettings = field(default_factory=ExecutionSettings)
    _sessions: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    fallbacks: list[str] = field(default_factory=list)
    """Messages about sessions that did not get the provider asked for."""
    _batched: dict[str, BatchedSession] = field(default_factory=dict)

    def batched(self, path: Path) -> BatchedSession:
        """The session for ``path`` behind a batcher shared by every thread (see inference.batching)."""
        session = self.session(path)
        full_precision = path.with_name(path.name.replace("_fp16", "")) if "_fp16" in path.name else None
        fallback = None
        if full_precision is not None and full_precision.is_file():
            fallback = (full_precision, lambda: self.session(full_precision))
        with self._lock:
            if str(path) not in self._batched:
                self._batched[str(path)] = BatchedSession(session, self.settings.max_batch, path.name, fallback)
            return self._batched[str(path)]

    @property
    def warnings(self) -> list[str]:
        """What went wrong but was handled: GPU sessions on the CPU, fp16 files replaced by fp32 ones."""
        with self._lock:
            return [f"FALLBACK TO CPU: {message}" for message in self.fallbacks] + [
                message for batched in self._batched.values() for message in batched.warnings]

    def session(self, path: Path) -> Any:
        key = str(path)
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = self._create(path)
            return self._sessions[key]

    def _create(self, path: Path) -> Any:
        onnxruntime = _onnxruntime()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            session = onnxruntime.InferenceSession(str(path), sess_options=options,
                                                   providers=provider_list(self.settings))
        except InvalidInputError:
            raise
        except Exception as error:  # noqa: BLE001 - onnxruntime raises several unrelated types
            raise InvalidInputError(f"cannot load model {path.name}: {error}") from error
        got = session.get_providers()
        wanted = PROVIDER_NAMES[self.settings.providers[0]]
        if wanted not in got:
            message = (f"{path.name} asked for {self.settings.providers[0]} but runs on {', '.join(got)}: "
                       "check the GPU driver and the CUDA/cuDNN libraries onnxruntime-gpu needs (`facefusion system` "
                       "shows both)")
            logger.warning("FALLBACK TO CPU: %s", message)
            self.fallbacks.append(message)
        return session

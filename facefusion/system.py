"""What this installation can use: library versions, ONNX Runtime's build and providers, the GPU and
driver, the CUDA and cuDNN the runtime expects, the video encoders and the models present.

A GPU run that silently falls back to the CPU is most often a CUDA/cuDNN pairing the installed
onnxruntime-gpu was not built for; `facefusion system` puts the facts side by side.
"""
from __future__ import annotations

import platform
import shutil
import subprocess
from importlib import metadata

CUDA_PAIRINGS = ((1, 18, "CUDA 11.8 with cuDNN 8"), (1, 26, "CUDA 12 with cuDNN 9"), (99, 99, "CUDA 13 with cuDNN 9"))
"""onnxruntime-gpu from PyPI, up to (major, minor) -> the CUDA and cuDNN it is built for."""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def expected_cuda(onnxruntime_version: str) -> str:
    """The CUDA and cuDNN a PyPI onnxruntime-gpu of this version needs."""
    major, minor = (int(part) for part in onnxruntime_version.split(".")[:2])
    for last_major, last_minor, pairing in CUDA_PAIRINGS:
        if (major, minor) <= (last_major, last_minor):
            return pairing
    return CUDA_PAIRINGS[-1][2]


def gpus() -> list[str]:
    """One line per NVIDIA GPU (name, memory, driver) from nvidia-smi, empty when there is none."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        output = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in output.splitlines() if line.strip()]


def live_lines() -> list[str]:
    """What `facefusion live` can use: the cameras and the virtual-camera backend."""
    from .live.camera import list_cameras

    linux = platform.system() == "Linux"
    cameras = list_cameras() if linux else []
    if linux:
        camera_line = "cameras: " + ("; ".join(cameras) if cameras else "none found under /sys/class/video4linux")
    else:
        camera_line = "cameras: listed on Linux only; try --camera 0, 1, ..."
    extra = _version("pyvirtualcam")
    if extra == "not installed":
        backend = "virtual camera: pyvirtualcam not installed (`make live`)"
    elif linux and not any("a virtual camera" in camera for camera in cameras):
        backend = f"virtual camera: pyvirtualcam {extra}; no v4l2loopback device (sudo modprobe v4l2loopback)"
    else:
        backend = f"virtual camera: pyvirtualcam {extra}"
    return [camera_line, backend]


def report() -> list[str]:
    from .inference.catalogue import CATALOGUE
    from .inference.download import is_present, models_dir
    from .inference.runtime import available_providers
    from .media.video import available_encoders
    from .version import __version__

    gpu_build = _version("onnxruntime-gpu") != "not installed"
    runtime_version = _version("onnxruntime-gpu" if gpu_build else "onnxruntime")
    lines = [
        f"facefusion-studio {__version__} on Python {platform.python_version()} ({platform.system()} "
        f"{platform.machine()})",
        "libraries: " + ", ".join(f"{name} {_version(name)}" for name in
                                  ("numpy", "opencv-contrib-python", "mediapipe", "av", "gradio")),
        f"onnxruntime {runtime_version} ({'GPU' if gpu_build else 'CPU-only'} build), providers: "
        + ", ".join(available_providers()),
    ]
    if gpu_build:
        lines.append(f"this onnxruntime-gpu needs {expected_cuda(runtime_version)} (a mismatch makes sessions "
                     "fall back to the CPU)")
    found = gpus()
    lines.append("GPU: " + ("; ".join(found) if found else "none found (no nvidia-smi or no NVIDIA GPU)"))
    if found and not gpu_build:
        lines.append("to use the GPU: `make gpu` installs onnxruntime-gpu (requirements-gpu.txt)")
    lines.append("video encoders: " + ", ".join(available_encoders()))
    lines.extend(live_lines())
    folder = models_dir()
    present = [entry.name for entry in CATALOGUE if is_present(entry.name, folder)]
    lines.append(f"models folder: {folder} ({len(present)} of {len(CATALOGUE)} catalogue files present"
                 + (f": {', '.join(present)}" if present else "") + ")")
    return lines

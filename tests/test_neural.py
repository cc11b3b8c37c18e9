"""The neural engine's code paths, on small ONNX models built here with the exact contracts."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, largest
from facefusion import Options, Studio
from facefusion.analysis.align import depth_to_space, space_to_depth
from facefusion.errors import InvalidInputError
from facefusion.inference.catalogue import INSWAPPER
from facefusion.inference.contracts import problems
from facefusion.media.image import read_image


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def colour_swapper(path: Path) -> Path:
    """inswapper-shaped: paints the crop one colour that depends on the source vector (through the emap)."""
    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(0, 3, (512, 3)).astype(np.float32), "colour_weights")
    zero = numpy_helper.from_array(np.zeros((1,), np.float32), "zero")
    shape = numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape")
    emap = numpy_helper.from_array(np.eye(512, dtype=np.float32), "emap")  # last initializer, as in inswapper
    nodes = [helper.make_node("MatMul", ["source", "colour_weights"], ["logits"]),
             helper.make_node("Sigmoid", ["logits"], ["colour"]),
             helper.make_node("Reshape", ["colour", "shape"], ["colour_map"]),
             helper.make_node("Mul", ["target", "zero"], ["blank"]),
             helper.make_node("Add", ["blank", "colour_map"], ["output"])]
    graph = helper.make_graph(nodes, "colour_swapper",
                              [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
                               helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
                              [weights, zero, shape, emap])
    return _save(graph, path)


def identity_swapper(path: Path) -> Path:
    """inswapper-shaped but returns the target crop unchanged: any misalignment or bad reassembly shows."""
    nodes = [helper.make_node("Identity", ["target"], ["output"])]
    graph = helper.make_graph(nodes, "identity_swapper",
                              [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
                               helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])])
    return _save(graph, path)


def tiny_arcface(path: Path) -> Path:
    """arcface-shaped: 112x112 crop -> 512 numbers that depend on the crop's colours."""
    rng = np.random.default_rng(1)
    weights = numpy_helper.from_array(rng.normal(0, 1, (3, 512)).astype(np.float32), "w")
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["output"])]
    graph = helper.make_graph(nodes, "tiny_arcface",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 112, 112])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 512])], [weights])
    return _save(graph, path)


@pytest.fixture()
def models(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    tiny_arcface(folder / "arcface_w600k_r50.onnx")
    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(folder))
    return folder


def test_space_to_depth_round_trip():
    crop = np.random.default_rng(2).integers(0, 255, (512, 512, 3), dtype=np.uint8)
    parts = space_to_depth(crop, 128)
    assert len(parts) == 16 and all(part.shape == (128, 128, 3) for part in parts)
    assert np.array_equal(depth_to_space(parts, 4), crop)


def test_custom_model_lands_on_the_face_and_nowhere_else(models, tmp_path, generated, analyser):
    swapper = colour_swapper(tmp_path / "mine.onnx")
    target = read_image(generated["grace_hopper"]).frame
    with Studio(Options(face_selector_mode="many", face_swapper_model=str(swapper))) as studio:
        report = studio.swap_image([generated["astronaut"]], generated["grace_hopper"])
        assert "mine.onnx" in studio.engine
    face = largest(analyser.analyse(target))
    changed = np.abs(report.frame.astype(int) - target).max(axis=2) > 8
    ys, xs = np.nonzero(changed)
    centre = np.array([xs.mean(), ys.mean()])
    # The crop is aligned on the five points: it is centred on them, not on the detector's box.
    assert np.linalg.norm(centre - face.landmarks_5.mean(axis=0)) < 0.15 * face.size, "the crop landed beside the face"
    assert xs.min() > face.bbox[0] - face.size and xs.max() < face.bbox[2] + face.size
    # In the middle of the face the mask is full: the model's colour is what shows.
    x, y = (int(value) for value in face.centre)
    middle = report.frame[y - 5:y + 5, x - 5:x + 5].reshape(-1, 3)
    assert middle.std(axis=0).max() < 3, "the middle of the face should be one flat colour"


def test_the_source_decides_the_output(models, tmp_path, generated):
    swapper = colour_swapper(tmp_path / "mine.onnx")
    colours = []
    for source in (generated["astronaut"], generated["grace_hopper"]):
        with Studio(Options(face_selector_mode="many", face_swapper_model=str(swapper))) as studio:
            frame = studio.swap_image([source], generated["two_people"]).frame
        colours.append(frame[360, 340].astype(int))
    assert np.abs(colours[0] - colours[1]).max() > 10


@pytest.mark.parametrize("boost", [128, 256, 512])
def test_alignment_normalisation_and_pixel_boost_reassembly(models, tmp_path, generated, boost):
    swapper = identity_swapper(tmp_path / "same.onnx")
    target = read_image(generated["grace_hopper"]).frame
    with Studio(Options(face_selector_mode="many", face_swapper_model=str(swapper),
                        face_swapper_pixel_boost=boost)) as studio:
        frame = studio.swap_image([generated["astronaut"]], generated["grace_hopper"]).frame
    difference = np.abs(frame.astype(int) - target)
    # Only resampling there and back: a shifted or scrambled crop would differ by far more.
    assert difference.mean() < 1.5 and np.percentile(difference, 99.5) < 40


def test_a_model_that_does_not_fit_is_refused(tmp_path, generated):
    wrong = tiny_arcface(tmp_path / "wrong.onnx")
    found = problems(wrong, INSWAPPER)
    assert any("needs an input 'target'" in problem for problem in found)
    result = subprocess.run([sys.executable, "-m", "facefusion", "headless-run", "-s", str(generated["astronaut"]),
                             "-t", str(generated["grace_hopper"]), "-o", str(tmp_path / "out.png"),
                             "--face-swapper-model", str(wrong)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "does not fit this slot" in result.stderr and "Traceback" not in result.stderr


def test_auto_without_models_uses_the_offline_engine_and_says_why(tmp_path, monkeypatch, generated):
    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(tmp_path))
    with Studio(Options(face_selector_mode="many")) as studio:
        assert "landmark" in studio.engine and "no neural swapper" in studio.engine


def test_custom_model_through_the_cli(models, tmp_path, generated):
    swapper = colour_swapper(tmp_path / "mine.onnx")
    output = tmp_path / "out.png"
    result = subprocess.run([sys.executable, "-m", "facefusion", "headless-run", "-s", str(generated["astronaut"]),
                             "-t", str(generated["grace_hopper"]), "-o", str(output), "--face-selector-mode", "many",
                             "--face-swapper-model", str(swapper)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={**__import__("os").environ, "FACEFUSION_MODELS_DIR": str(models)})
    assert result.returncode == 0, result.stderr
    assert "mine.onnx" in result.stderr
    assert not np.array_equal(read_image(output).frame, read_image(generated["grace_hopper"]).frame)


def face_restorer(path: Path, with_weight: bool = False) -> Path:
    """GFPGAN-shaped (1x3x512x512 in [-1, 1] -> same): brightens the crop; with a CodeFormer-style
    ``weight`` input, by an amount set by that weight."""
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 512, 512])]
    initializers = [numpy_helper.from_array(np.full((1,), 0.6, np.float32), "lift")]
    nodes = [helper.make_node("Add", ["input", "lift"], ["output"])]
    if with_weight:
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.DOUBLE, [1]))
        nodes = [helper.make_node("Cast", ["weight"], ["weight_f"], to=TensorProto.FLOAT),
                 helper.make_node("Add", ["input", "weight_f"], ["output"])]
        initializers = []
    graph = helper.make_graph(nodes, "restorer", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 512, 512])],
                              initializers)
    return _save(graph, path)


def tile_upscaler(path: Path) -> Path:
    """Real-ESRGAN-shaped x2 upscaler whose output also depends on the whole tile (its mean is added):
    joining tiles edge to edge would leave visible steps; cross-fading must not."""
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    nodes = [helper.make_node("Resize", ["input", "", "scales"], ["big"], mode="linear"),
             helper.make_node("GlobalAveragePool", ["input"], ["mean"]),
             helper.make_node("Add", ["big", "mean"], ["output"])]
    graph = helper.make_graph(nodes, "upscaler",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "H", "W"])], [scales])
    return _save(graph, path)


def test_face_enhancer_restores_the_face_only(tmp_path, generated, analyser):
    model = face_restorer(tmp_path / "restorer.onnx")
    target = read_image(generated["grace_hopper"]).frame
    with Studio(Options(processors=["face_enhancer"], face_selector_mode="many", face_enhancer_model=str(model),
                        face_enhancer_blend=100)) as studio:
        frame = studio.swap_image([generated["astronaut"]], generated["grace_hopper"]).frame
        assert "restorer.onnx" in studio.engine
    face = largest(analyser.analyse(target))
    x, y = (int(value) for value in face.centre)
    assert frame[y, x].astype(int).sum() > target[y, x].astype(int).sum() + 60, "the face was not brightened"
    assert np.array_equal(frame[:20], target[:20]), "far from the face nothing changes"


def test_codeformer_weight_input_is_fed(tmp_path, generated, analyser):
    model = face_restorer(tmp_path / "codeformer_like.onnx", with_weight=True)
    target = read_image(generated["grace_hopper"]).frame
    face = largest(analyser.analyse(target))
    x, y = (int(value) for value in face.centre)
    values = []
    for weight in (0.0, 1.0):
        with Studio(Options(processors=["face_enhancer"], face_selector_mode="many", face_enhancer_model=str(model),
                            face_enhancer_blend=100, face_enhancer_weight=weight)) as studio:
            values.append(studio.swap_image([generated["astronaut"]], generated["grace_hopper"]).frame[y, x].astype(int))
    assert values[1].sum() > values[0].sum() + 60


def test_frame_enhancer_tiles_blend_without_seams(tmp_path):
    from facefusion.inference.catalogue import ESRGAN_X2
    from facefusion.inference.runtime import SessionPool
    from facefusion.neural.enhance import FrameEnhancerModel

    model = FrameEnhancerModel(tile_upscaler(tmp_path / "up.onnx"), ESRGAN_X2, SessionPool(), tile=128, overlap=16,
                               blend=1.0)
    gradient = np.tile(np.linspace(0, 255, 700, dtype=np.float32), (300, 1))
    frame = np.dstack([gradient] * 3).astype(np.uint8)
    result = model.enhance(frame)
    assert result.shape == (600, 1400, 3)
    steps = np.abs(np.diff(result[:, :, 0].astype(int), axis=1))
    # Each tile adds its own mean (up to ~255 apart across the frame); cross-fading keeps every step small.
    assert steps[:, 4:-4].max() <= 4


def test_video_writer_gets_the_enlarged_size(tmp_path):
    from facefusion.media.video import probe_video
    from facefusion.pipeline import Job, run_to_end
    from sample_media import grace_hopper, make_clip

    clip = make_clip(tmp_path / "small.mp4", frames=10, size=(320, 180), face_width=60, audio=False)
    upscaler = tile_upscaler(tmp_path / "up.onnx")
    result = run_to_end(Job(sources=(str(grace_hopper()),), target=str(clip), output=str(tmp_path / "big.mp4")),
                        Options(processors=["frame_enhancer"], frame_enhancer_model=str(upscaler)))
    made = probe_video(tmp_path / "big.mp4")
    assert (made.width, made.height) == (640, 360) and made.frame_count == 10
    assert "up.onnx" in result.engine


def test_a_missing_enhancer_model_says_what_to_do(tmp_path, monkeypatch, generated):
    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "facefusion", "headless-run", "-s", str(generated["astronaut"]),
                             "-t", str(generated["grace_hopper"]), "-o", str(tmp_path / "out.png"), "--processors",
                             "face_enhancer"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ, "FACEFUSION_MODELS_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "gfpgan_1.4.onnx" in result.stderr and "facefusion models download" in result.stderr


def test_source_latent_is_the_normalised_embedding_through_the_emap(tmp_path, generated):
    from facefusion.analysis.analyse import FaceAnalyser
    from facefusion.inference.catalogue import find
    from facefusion.inference.runtime import SessionPool
    from facefusion.neural.swap import ArcFace, EmbeddingSwapper
    from facefusion.sources import load_identity

    rng = np.random.default_rng(3)
    emap = rng.normal(0, 1, (512, 512)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("Identity", ["target"], ["output"])], "with_emap",
                              [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
                               helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
                              [numpy_helper.from_array(emap, "emap")])
    swapper_path = _save(graph, tmp_path / "emap.onnx")
    pool = SessionPool()
    arcface = ArcFace(tiny_arcface(tmp_path / "arc.onnx"), find("arcface_w600k_r50").contract, pool)
    model = EmbeddingSwapper(swapper_path, INSWAPPER, pool, arcface)
    identity = load_identity([str(generated["astronaut"])], FaceAnalyser(), embed=False)
    raw = arcface.embed(identity.faces[0].image, identity.faces[0].face.landmarks_5)
    expected = (raw / np.linalg.norm(raw)) @ emap
    assert np.allclose(model.source_latent(identity).ravel(), expected, rtol=1e-4, atol=1e-4)
    hyper = EmbeddingSwapper(swapper_path, INSWAPPER, pool, arcface, kind="hyperswap")
    assert np.isclose(np.linalg.norm(hyper.source_latent(identity)), 1.0, atol=1e-5)


def constant_model(path: Path, name: str, input_shape: list[int], value: np.ndarray, reduce_axis: int) -> Path:
    """A model of a given input shape whose output is ``value`` whatever the input (the input is still
    read, so onnxruntime cannot drop it)."""
    nodes = [helper.make_node("ReduceMean", ["input"], ["mean"], axes=[reduce_axis], keepdims=1),
             helper.make_node("Mul", ["mean", "zero"], ["blank"]),
             helper.make_node("Add", ["blank", "value"], ["output"])]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(value.shape))],
                              [numpy_helper.from_array(np.zeros((1,), np.float32), "zero"),
                               numpy_helper.from_array(value, "value")])
    return _save(graph, path)


def tiny_xseg(path: Path) -> Path:
    """XSeg-shaped (NHWC 256x256x3 -> 256x256x1): says the left half of the crop is covered."""
    half = np.ones((1, 256, 256, 1), np.float32)
    half[:, :, :128] = 0
    return constant_model(path, "xseg", [1, 256, 256, 3], half, reduce_axis=3)


@pytest.mark.parametrize("occluder", ["xseg_1", "own file"])
def test_occlusion_mask_keeps_what_covers_the_face(models, tmp_path, generated, analyser, occluder):
    if occluder == "xseg_1":
        tiny_xseg(models / "xseg_1.onnx")
    else:
        occluder = str(tiny_xseg(tmp_path / "my_occluder.onnx"))
    swapper = colour_swapper(tmp_path / "mine.onnx")
    target = read_image(generated["grace_hopper"]).frame
    face = largest(analyser.analyse(target))
    results = {}
    for types in (["box"], ["box", "occlusion"]):
        with Studio(Options(face_selector_mode="many", face_swapper_model=str(swapper), face_mask_types=types,
                            face_occluder_model=occluder)) as studio:
            results[len(types)] = studio.swap_image([generated["astronaut"]], generated["grace_hopper"]).frame
    x, y = (int(value) for value in face.centre)
    offset = int(face.size * 0.25)
    left, right = (y, x - offset), (y, x + offset)
    assert not np.array_equal(results[1][left], target[left]), "box only: the whole face is replaced"
    assert np.abs(results[2][left].astype(int) - target[left]).max() < 3, "the covered half must stay"
    assert np.abs(results[2][right].astype(int) - target[right]).max() > 20, "the uncovered half is swapped"


def tiny_parser(path: Path) -> Path:
    """BiSeNet-shaped (1x3x512x512 -> 1x19x512x512 logits): skin in the top half of the crop, background below."""
    logits = np.zeros((1, 19, 512, 512), np.float32)
    logits[:, 1, :256] = 5
    logits[:, 0, 256:] = 5
    return constant_model(path, "parser", [1, 3, 512, 512], logits, reduce_axis=1)


def test_region_mask_limits_the_swap_to_the_chosen_regions(models, tmp_path, generated, analyser):
    tiny_parser(models / "bisenet_resnet_34.onnx")
    swapper = colour_swapper(tmp_path / "mine.onnx")
    target = read_image(generated["grace_hopper"]).frame
    face = largest(analyser.analyse(target))
    with Studio(Options(face_selector_mode="many", face_swapper_model=str(swapper), face_mask_types=["box", "region"],
                        face_mask_regions=["skin"])) as studio:
        frame = studio.swap_image([generated["astronaut"]], generated["grace_hopper"]).frame
    x = int(face.centre[0])
    upper, lower = (int(face.bbox[1] + face.height * 0.2), x), (int(face.bbox[3] + face.height * 0.1), x)
    assert np.abs(frame[upper].astype(int) - target[upper]).max() > 20, "skin region (top of the crop) is swapped"
    assert np.abs(frame[lower].astype(int) - target[lower]).max() < 3, "outside the chosen regions nothing changes"


def test_faces_of_a_frame_are_batched_when_the_model_allows(tmp_path, generated, analyser):
    from facefusion.inference.catalogue import find
    from facefusion.inference.runtime import SessionPool
    from facefusion.neural.enhance import FaceEnhancerModel

    lift = numpy_helper.from_array(np.full((1,), 0.6, np.float32), "lift")
    graph = helper.make_graph([helper.make_node("Add", ["input", "lift"], ["output"])], "batched",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 512, 512])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3, 512, 512])],
                              [lift])
    pool = SessionPool()
    model = FaceEnhancerModel(_save(graph, tmp_path / "batched.onnx"), find("gfpgan_1.4").contract, pool, blend=1.0)
    frame = read_image(generated["two_people"]).frame
    faces = analyser.analyse(frame)
    assert len(faces) == 2
    session = pool.session(model.path)
    calls = []
    original_run = session.run
    session_proxy = type("Proxy", (), {"run": lambda self, *a, **k: calls.append(a[1]) or original_run(*a, **k),
                                       "get_inputs": lambda self: session.get_inputs()})()
    pool._sessions[str(model.path)] = session_proxy
    batched = model.enhance_many(frame.copy(), faces)
    assert len(calls) == 1 and next(iter(calls[0].values())).shape[0] == 2
    one_by_one = frame.copy()
    for face in faces:
        one_by_one = model.enhance(one_by_one, face)
    assert np.abs(batched.astype(int) - one_by_one).max() <= 1


def test_a_mask_model_of_the_wrong_shape_is_refused(models, tmp_path):
    wrong = tiny_xseg(tmp_path / "not_a_parser.onnx")
    swapper = colour_swapper(tmp_path / "mine.onnx")
    with pytest.raises(InvalidInputError, match="--face-parser-model: not_a_parser.onnx does not fit"):
        Studio(Options(face_swapper_model=str(swapper), face_mask_types=["box", "region"],
                       face_parser_model=str(wrong)))


def test_face_enhancer_leaves_what_covers_the_face(models, tmp_path, generated, analyser):
    tiny_xseg(models / "xseg_1.onnx")  # says the left half of the crop is covered
    restorer = face_restorer(tmp_path / "restorer.onnx")
    target = read_image(generated["grace_hopper"]).frame
    face = largest(analyser.analyse(target))
    with Studio(Options(processors=["face_enhancer"], face_selector_mode="many", face_enhancer_model=str(restorer),
                        face_enhancer_blend=100, face_mask_types=["box", "occlusion"])) as studio:
        frame = studio.swap_image([generated["astronaut"]], generated["grace_hopper"]).frame
    x, y = (int(value) for value in face.centre)
    offset = int(face.size * 0.25)
    assert np.abs(frame[y, x - offset].astype(int) - target[y, x - offset]).max() < 3, "the covered half is kept"
    assert frame[y, x + offset].astype(int).sum() > target[y, x + offset].astype(int).sum() + 60, "the rest is restored"


def test_model_masks_with_the_offline_engine_are_said_to_be_unused(generated, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(tmp_path))
    with Studio(Options(face_selector_mode="many", face_mask_types=["box", "region"])) as studio:
        result = studio.swap_image([generated["astronaut"]], generated["grace_hopper"])
    assert result.faces_swapped == 1
    assert any("--face-mask-types region needs a neural swapper" in warning for warning in result.warnings)


def _constant_swapper(path: Path, size: int, value: float) -> Path:
    """A 256-style swapper whose output is ``value`` everywhere (the inputs are still read)."""
    nodes = [helper.make_node("Mul", ["target", "zero"], ["blank"]),
             helper.make_node("Add", ["blank", "value"], ["output"])]
    graph = helper.make_graph(nodes, "constant_swapper",
                              [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, size, size]),
                               helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])],
                              [numpy_helper.from_array(np.zeros((1,), np.float32), "zero"),
                               numpy_helper.from_array(np.full((1,), value, np.float32), "value")])
    return _save(graph, path)


@pytest.mark.parametrize("name, middle_grey", [("simswap_256", 0.5), ("hyperswap_1a_256", 0.0)])
def test_each_swapper_output_range_is_read_as_its_model_gives_it(tmp_path, generated, analyser, name, middle_grey):
    """simswap answers in RGB 0..1 (its ImageNet normalisation is for the input only); hyperswap in -1..1."""
    from facefusion.inference.catalogue import find
    from facefusion.inference.runtime import SessionPool
    from facefusion.neural.swap import ArcFace, EmbeddingSwapper
    from facefusion.sources import load_identity

    pool = SessionPool()
    arcface = ArcFace(tiny_arcface(tmp_path / "arc.onnx"), find("arcface_w600k_r50").contract, pool)
    converter = None
    if name == "simswap_256":
        graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "converter",
                                  [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 512])],
                                  [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 512])])
        converter = _save(graph, tmp_path / "converter.onnx")
    kind = name.split("_")[0]
    model = EmbeddingSwapper(_constant_swapper(tmp_path / "swap.onnx", 256, middle_grey), find(name).contract, pool,
                             arcface, kind=kind, converter=converter, pixel_boost=256)
    identity = load_identity([str(generated["astronaut"])], analyser, embed=False)
    target = read_image(generated["grace_hopper"]).frame
    face = largest(analyser.analyse(target))
    frame = model.swap(target.copy(), face, model.source_latent(identity))
    x, y = (int(value) for value in face.centre)
    assert np.abs(frame[y, x].astype(int) - 128).max() <= 2, f"{name}: the middle of the range must come out grey"


def test_outputs_of_trained_models_are_labelled_as_such(models, tmp_path):
    swapper = colour_swapper(tmp_path / "mine.onnx")
    with Studio(Options(face_swapper_model=str(swapper))) as studio:
        assert studio.digital_source_type == "compositeWithTrainedAlgorithmicMedia"
    with Studio(Options(processors=["frame_enhancer"], frame_enhancer_model=str(tile_upscaler(tmp_path / "up.onnx")))) as studio:
        assert studio.digital_source_type == "algorithmicallyEnhanced"
    with Studio(Options(processors=["face_debugger"])) as studio:
        assert studio.digital_source_type is None, "annotations only: nothing to declare"


def test_enhancers_run_without_a_source_on_the_faces_the_selector_picks(tmp_path, generated, analyser):
    """Restoring or upscaling needs no source person; the selector still decides which faces."""
    restorer = face_restorer(tmp_path / "restorer.onnx")
    target = read_image(generated["two_people"]).frame
    faces = sorted(analyser.analyse(target), key=lambda face: face.bbox[0])
    options = Options(processors=["face_enhancer"], face_enhancer_model=str(restorer), face_enhancer_blend=100,
                      face_selector_order="left-right")
    results = {}
    for mode in ("many", "one"):
        with Studio(options.replace(face_selector_mode=mode)) as studio:
            results[mode] = studio.swap_image([], generated["two_people"])
    assert results["many"].faces_selected == 2 and results["one"].faces_selected == 1
    for face, brightened_in_one in zip(faces, (True, False)):
        x, y = (int(value) for value in face.centre)
        assert results["many"].frame[y, x].astype(int).sum() > target[y, x].astype(int).sum() + 60
        changed = np.abs(results["one"].frame[y, x].astype(int) - target[y, x]).max() > 20
        assert changed == brightened_in_one, "mode one restores only the first face in the order"
    with pytest.raises(InvalidInputError, match="needs a source"):
        with Studio(Options()) as studio:
            studio.swap_image([], generated["two_people"])

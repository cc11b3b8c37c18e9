"""The neural pre- and post-processing, checked line by line against FaceFusion 3.8.1's behaviour:
faces placed in the frame each processor receives, catalogue addresses, mask preparation, how several
source photos and the swapper weight make the source latent, inputs fed by name, batching and tiles."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from onnx import TensorProto, helper, numpy_helper

from conftest import largest
from facefusion import Options, Studio
from facefusion.analysis.analyse import FaceAnalyser
from facefusion.inference.catalogue import CATALOGUE, XSEG
from facefusion.inference.runtime import SessionPool
from facefusion.media.image import read_image
from test_neural import _save, colour_swapper, face_restorer, tiny_arcface

# FaceFusion publishes each model under the release that introduced it (its model sets, 3.8.1).
FACEFUSION_RELEASES = {
    "models-3.0.0": {"arcface_w600k_r50", "bisenet_resnet_34", "codeformer", "gfpgan_1.4", "gpen_bfr_512",
                     "inswapper_128", "inswapper_128_fp16", "real_esrgan_x2", "real_esrgan_x2_fp16", "real_esrgan_x4",
                     "real_esrgan_x4_fp16", "restoreformer_plus_plus", "retinaface_10g", "scrfd_2.5g", "simswap_256",
                     "yoloface_8n", "fairface", "live_portrait_feature_extractor", "live_portrait_motion_extractor",
                     "live_portrait_generator", "live_portrait_eye_retargeter", "live_portrait_lip_retargeter",
                     "live_portrait_stitcher"},
    "models-3.1.0": {"bisenet_resnet_18", "xseg_1", "xseg_2", "styleganex_age"},
    "models-3.2.0": {"xseg_3"},
    "models-3.3.0": {"hyperswap_1a_256"},
    "models-3.4.0": {"crossface_simswap"},
    "models-3.5.0": {"ben_2", "birefnet_general", "birefnet_portrait", "isnet_general", "modnet", "ormbg", "rmbg_1.4",
                     "rmbg_2.0", "silueta", "u2net_cloth", "u2net_general", "u2net_human", "u2netp"},
    "models-3.6.0": {"fran"},
}


def test_every_catalogue_file_is_fetched_from_the_release_that_publishes_it():
    published = {name: release for release, names in FACEFUSION_RELEASES.items() for name in names}
    for entry in CATALOGUE:
        assert entry.name in published, f"{entry.name} is not in the table of FaceFusion's model sets"
        assert entry.release == published[entry.name], f"{entry.name}: {entry.release} != {published[entry.name]}"
        assert entry.urls[0].endswith(f"/{published[entry.name]}/{entry.file}")


def plain_upscaler(path: Path, tile: int | str = "h") -> Path:
    """Real-ESRGAN-shaped x2: a bilinear enlargement, nothing else."""
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    side_in, side_out = (tile, tile * 2) if isinstance(tile, int) else ("h", "H")
    graph = helper.make_graph([helper.make_node("Resize", ["input", "", "scales"], ["output"], mode="linear")],
                              "upscaler", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                        [1, 3, side_in, side_in])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, side_out, side_out])],
                              [scales])
    return _save(graph, path)


def _brightened_centre(result: np.ndarray, before: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero((result.astype(int) - before.astype(int)).sum(axis=2) > 60)
    assert len(xs) > 1000, "the face was not restored"
    return np.array([xs.mean(), ys.mean()])


def test_a_face_processor_after_the_frame_enhancer_works_where_the_face_now_is(tmp_path, generated):
    upscaler = plain_upscaler(tmp_path / "up.onnx")
    restorer = face_restorer(tmp_path / "restorer.onnx")
    target = read_image(generated["grace_hopper"]).frame
    common = dict(face_selector_mode="many", frame_enhancer_model=str(upscaler), frame_enhancer_blend=100,
                  face_enhancer_model=str(restorer), face_enhancer_blend=100)
    with Studio(Options(processors=["face_enhancer"], **common)) as studio:
        alone = studio.swap_image([], generated["grace_hopper"]).frame
    with Studio(Options(processors=["frame_enhancer", "face_enhancer"], **common)) as studio:
        result = studio.swap_image([], generated["grace_hopper"]).frame
    assert result.shape[:2] == (target.shape[0] * 2, target.shape[1] * 2)
    plain = cv2.resize(target, result.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    # The restored patch sits where it sits without the upscaling, twice as far from the corner.
    assert np.linalg.norm(_brightened_centre(result, plain) / 2 - _brightened_centre(alone, target)) < 3


def test_the_swapper_weight_reads_the_target_as_it_was_detected(tmp_path, generated, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    tiny_arcface(folder / "arcface_w600k_r50.onnx")
    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(folder))
    swapper = colour_swapper(tmp_path / "mine.onnx")
    restorer = face_restorer(tmp_path / "restorer.onnx")
    target = read_image(generated["grace_hopper"]).frame
    face = largest(FaceAnalyser().analyse(target))
    x, y = (int(value) for value in face.centre)
    colours = []
    for processors in (["face_swapper"], ["face_enhancer", "face_swapper"]):
        options = Options(processors=processors, face_selector_mode="many", face_swapper_model=str(swapper),
                          face_swapper_weight=0.0, face_enhancer_model=str(restorer), face_enhancer_blend=100)
        with Studio(options) as studio:
            colours.append(studio.swap_image([generated["astronaut"]], generated["grace_hopper"]).frame[y, x].astype(int))
    # The swapped colour depends on the mixed-in target identity: brightening the face first must not change it.
    assert np.abs(colours[0] - colours[1]).max() <= 2, colours


def test_hyperswap_averages_the_normalised_embeddings_of_several_photos(tmp_path, generated):
    from facefusion.inference.catalogue import find
    from facefusion.neural.swap import ArcFace, EmbeddingSwapper
    from facefusion.sources import load_identity

    pool = SessionPool()
    arcface = ArcFace(tiny_arcface(tmp_path / "arc.onnx"), find("arcface_w600k_r50").contract, pool)
    hyper = find("hyperswap_1a_256")
    swapper = EmbeddingSwapper(tmp_path / "unused.onnx", hyper.contract, pool, arcface, kind="hyperswap")
    identity = load_identity([str(generated["astronaut"]), str(generated["grace_hopper"])], FaceAnalyser(), embed=False)
    raws = [arcface.embed(source.image, source.face.landmarks_5) for source in identity.faces]
    assert len(raws) == 2 and abs(np.linalg.norm(raws[0]) - np.linalg.norm(raws[1])) > 1e-3
    expected = np.mean([raw / np.linalg.norm(raw) for raw in raws], axis=0)
    assert np.allclose(swapper.source_latent(identity).ravel(), expected, atol=1e-5)


def _passthrough_xseg(path: Path) -> Path:
    """XSeg-shaped: the mask is the crop's mean over its colour channels (so the input is visible)."""
    nodes = [helper.make_node("ReduceMean", ["input"], ["output"], axes=[3], keepdims=1)]
    graph = helper.make_graph(nodes, "xseg_passthrough",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 256, 256, 3])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 256, 256, 1])])
    return _save(graph, path)


def test_the_occlusion_mask_is_prepared_as_facefusion_prepares_it(tmp_path):
    from facefusion.neural.masks import OcclusionMasker

    masker = OcclusionMasker(_passthrough_xseg(tmp_path / "xseg.onnx"), XSEG, SessionPool())
    for size in (128, 512):
        crop = np.zeros((size, size, 3), np.uint8)
        cv2.fillConvexPoly(crop, np.array([[0, 0], [size, 0], [0, size]], np.int32), (255, 255, 255))
        # FaceFusion: bilinear to the model's size, the model, bilinear back, blur of sigma 5, edge pulled in.
        model_input = cv2.resize(crop, (256, 256)).astype(np.float32) / 255.0
        raw = cv2.resize(model_input.mean(axis=2), (size, size))
        expected = (cv2.GaussianBlur(raw.clip(0, 1), (0, 0), 5).clip(0.5, 1) - 0.5) * 2
        assert np.abs(masker.mask(crop) - expected).max() < 0.02, size
        # The edge's width does not grow with the crop.
        row = masker.mask(crop)[size // 2]
        assert np.count_nonzero((row > 0.05) & (row < 0.95)) <= 16  # about 25 with a blur grown to the crop


def test_an_input_without_a_batch_dimension_is_never_split_or_stacked():
    import onnxruntime

    from facefusion.inference.batching import BatchedSession

    graph = helper.make_graph([helper.make_node("Add", ["input", "bias"], ["output"])], "with_bias",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3]),
                               helper.make_tensor_value_info("bias", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = BatchedSession(onnxruntime.InferenceSession(model.SerializeToString(),
                                                          providers=["CPUExecutionProvider"]))
    rows = np.arange(9, dtype=np.float32).reshape(3, 3)
    bias = np.array([10, 20, 30], np.float32)
    assert np.array_equal(session.run({"input": rows, "bias": bias})[0], rows + bias)


def test_a_frame_smaller_than_a_tile_is_padded_to_the_tile(tmp_path):
    from facefusion.inference.catalogue import ESRGAN_X2
    from facefusion.neural.enhance import FrameEnhancerModel

    model = FrameEnhancerModel(plain_upscaler(tmp_path / "fixed.onnx", tile=128), ESRGAN_X2, SessionPool(), tile=128,
                               overlap=16, blend=1.0)
    frame = np.random.default_rng(4).integers(0, 255, (60, 100, 3), dtype=np.uint8)
    result = model.enhance(frame)
    assert result.shape == (120, 200, 3)
    reference = cv2.resize(frame, (200, 120), interpolation=cv2.INTER_LINEAR).astype(int)
    assert np.abs(result.astype(int) - reference)[4:-4, 4:-4].mean() < 6

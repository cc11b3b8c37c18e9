"""Telling people apart: dlib (embedded) or ArcFace (neural), one distance scale for both."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from facefusion import Options, Studio
from facefusion.analysis.analyse import FaceAnalyser
from facefusion.analysis.models import choose_recogniser
from facefusion.analysis.recognise import embedding_distance
from facefusion.errors import InvalidInputError
from facefusion.media.image import read_image
from test_neural import _save


def pattern_arcface(path: Path) -> Path:
    """ArcFace-shaped (1x3x112x112 -> 1x512): a fixed projection of the aligned crop's coarse pattern
    with its mean removed, so different faces give clearly different vectors and the same face the same."""
    rng = np.random.default_rng(5)
    projection = numpy_helper.from_array(rng.normal(0, 1, (3 * 14 * 14, 512)).astype(np.float32), "projection")
    nodes = [helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
             helper.make_node("ReduceMean", ["pooled"], ["mean"], keepdims=1),
             helper.make_node("Sub", ["pooled", "mean"], ["centred"]),
             helper.make_node("Flatten", ["centred"], ["flat"]),
             helper.make_node("MatMul", ["flat", "projection"], ["output"])]
    graph = helper.make_graph(nodes, "pattern_arcface",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 112, 112])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 512])], [projection])
    return _save(graph, path)


def test_one_distance_scale_for_both_recognisers():
    a = np.zeros(512, np.float32)
    a[0] = 3.0
    b = np.zeros(512, np.float32)
    b[1] = 0.5
    assert embedding_distance(a, a * 7) == pytest.approx(0.0, abs=1e-6), "ArcFace: length does not matter"
    assert embedding_distance(a, b) == pytest.approx(1.0, abs=1e-6)
    assert embedding_distance(a, -a) == pytest.approx(2.0, abs=1e-6)
    assert embedding_distance(np.zeros(128), np.full(128, 0.1)) == pytest.approx(np.sqrt(128 * 0.01)), "dlib: Euclidean"


def test_auto_takes_arcface_when_its_file_is_present(tmp_path):
    assert choose_recogniser("auto", tmp_path).file is None
    pattern_arcface(tmp_path / "arcface_w600k_r50.onnx")
    chosen = choose_recogniser("auto", tmp_path)
    assert chosen.file == tmp_path / "arcface_w600k_r50.onnx" and "NON-COMMERCIAL" in chosen.description
    assert choose_recogniser("dlib", tmp_path).file is None


def test_a_recogniser_file_of_the_wrong_shape_is_refused(tmp_path):
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "wrong",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 112, 112])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 112, 112])])
    with pytest.raises(InvalidInputError, match="--face-recogniser-model: wrong.onnx does not fit"):
        choose_recogniser(str(_save(graph, tmp_path / "wrong.onnx")), tmp_path)


def test_reference_mode_with_arcface_picks_the_reference_person(tmp_path, generated, monkeypatch):
    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(tmp_path))
    pattern_arcface(tmp_path / "arcface_w600k_r50.onnx")
    frame = read_image(generated["two_people"]).frame
    analyser = FaceAnalyser(recogniser_choice=choose_recogniser("auto", tmp_path))
    faces = [analyser.embed(frame, face) for face in analyser.analyse(frame)]
    assert len(faces) == 2 and all(face.embedder == "arcface_w600k_r50" for face in faces)
    assert all(face.embedding.shape == (512,) for face in faces)
    apart = embedding_distance(faces[0].embedding, faces[1].embedding)
    assert apart > 0.3, "two people are told apart"
    for position in (0, 1):
        options = Options(face_selector_mode="reference", reference_face_position=position,
                          reference_face_distance=apart / 2, face_swapper_model="landmark",
                          face_selector_order="left-right")
        with Studio(options) as studio:
            result = studio.swap_image([generated["astronaut"]], generated["two_people"])
            assert "identity: arcface_w600k_r50" in studio.engine
        assert result.faces_selected == 1
        changed = np.abs(result.frame.astype(int) - frame).sum(axis=2) > 30
        columns = np.flatnonzero(changed.any(axis=0))
        middle = frame.shape[1] / 2
        assert (columns.max() < middle) if position == 0 else (columns.min() > middle), \
            f"position {position}: the other person's face was changed"

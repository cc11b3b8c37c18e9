"""face_editor with LivePortrait: its six networks built here with their exact inputs and outputs, so the slider
figures, the head angles, the retargeters' inputs (keypoints, openings, the open/close flag), the stitcher and the
crop are checked against hand-computed values."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from conftest import largest
from facefusion import Options
from facefusion.inference.runtime import SessionPool, execution_settings
from facefusion.media.image import read_image
from facefusion.neural.live_portrait import EDITOR_PARTS, LivePortrait, rotation
from facefusion.neural.portrait_edit import (
    IMAGE_LEFT_EYE_RATIO,
    IMAGE_RIGHT_EYE_RATIO,
    LIP_RATIO,
    PortraitEditor,
    distance_ratio,
    edited_angles,
    edited_expression,
)
from test_cli import run_cli
from test_expression_restorer import _value, build_networks, centre_change
from test_neural import _save

POINTS = (np.arange(63, dtype=np.float32).reshape(1, 21, 3) % 7 - 3) / 50
"""The test motion extractor's canonical keypoints (small, varied: a turn changes their sum)."""
LIFT = 4.0


def still_motion(path: Path) -> Path:
    """A motion extractor reading a still, frontal head with no expression and the POINTS keypoints."""
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 256, 256])
    parts = [_value(name, shape, values) for name, shape, values in (
        ("pitch", [1, 1], np.zeros(1)), ("yaw", [1, 1], np.zeros(1)), ("roll", [1, 1], np.zeros(1)),
        ("scale", [1, 1], np.ones(1)), ("translation", [1, 3], np.zeros(3)), ("expression", [1, 21, 3], np.zeros(63)),
        ("points", [1, 21, 3], POINTS))]
    nodes = [node for node, _ in parts] + [helper.make_node("ReduceMean", ["input"], ["unused"], keepdims=0)]
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in (
        ("pitch", [1, 1]), ("yaw", [1, 1]), ("roll", [1, 1]), ("scale", [1, 1]), ("translation", [1, 3]),
        ("expression", [1, 21, 3]), ("points", [1, 21, 3]), ("unused", []))]
    return _save(helper.make_graph(nodes, "still", [image], outputs, [tensor for _, tensor in parts]), path)


def tail_retargeter(path: Path, width: int) -> Path:
    """A retargeter whose keypoint moves are its input's last values (the openings and the flag) laid at the
    start: the sum of its moves is the sum of what it was given past the 63 keypoint values."""
    graph = helper.make_graph(
        [helper.make_node("Slice", ["input", "start", "end", "axis"], ["tail"]),
         helper.make_node("Pad", ["tail", "pads"], ["output"])], "retargeter",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 63])],
        [helper.make_tensor("start", TensorProto.INT64, [1], [63]),
         helper.make_tensor("end", TensorProto.INT64, [1], [width]),
         helper.make_tensor("axis", TensorProto.INT64, [1], [1]),
         helper.make_tensor("pads", TensorProto.INT64, [4], [0, 0, 0, 63 - (width - 63)])])
    return _save(graph, path)


def passing_stitcher(path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Mul", ["target", "nought"], ["nothing"]), helper.make_node("Add", ["source", "nothing"],
                                                                                      ["output"])], "stitcher",
        [helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 21, 3]),
         helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 21, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 21, 3])],
        [helper.make_tensor("nought", TensorProto.FLOAT, [], [0.0])])
    return _save(graph, path)


def editor_networks(folder: Path) -> dict[str, Path]:
    paths = build_networks(folder, 0.0)  # feature extractor and generator as the restorer's test builds them
    paths["generator"] = _lifted_generator(paths["generator"])
    paths["motion_extractor"] = still_motion(folder / "live_portrait_motion_extractor.onnx")
    paths["eye_retargeter"] = tail_retargeter(folder / "live_portrait_eye_retargeter.onnx", 66)
    paths["lip_retargeter"] = tail_retargeter(folder / "live_portrait_lip_retargeter.onnx", 65)
    paths["stitcher"] = passing_stitcher(folder / "live_portrait_stitcher.onnx")
    return paths


def _lifted_generator(path: Path) -> Path:
    """The restorer test's generator with this test's LIFT (its own lift is for gain 0, unused)."""
    import onnx

    model = onnx.load(str(path))
    for tensor in model.graph.initializer:
        if tensor.name == "lift":
            tensor.CopyFrom(helper.make_tensor("lift", TensorProto.FLOAT, [], [LIFT]))
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def networks(tmp_path_factory) -> dict[str, Path]:
    return editor_networks(tmp_path_factory.mktemp("portrait"))


def edit(paths: dict[str, Path], frame: np.ndarray, face, **sliders: float) -> np.ndarray:
    pool = SessionPool(execution_settings(Options()))
    editor = PortraitEditor(LivePortrait(pool, paths=paths, parts=EDITOR_PARTS), sliders)
    return editor.edit(frame.copy(), face)


def keypoint_sum(angles: tuple[float, float, float], expression: np.ndarray) -> float:
    return float((POINTS @ rotation(*angles).T + expression).sum())


@pytest.mark.parametrize("sliders", [{"mouth_smile": 0.5}, {"mouth_smile": -0.7}, {"mouth_grim": 0.6, "mouth_pout": -0.4},
                                     {"eyebrow_direction": 0.8, "eye_gaze_vertical": -0.5}, {"head_yaw": 0.3},
                                     {"head_pitch": -0.5, "head_roll": 0.5}, {"eye_open_ratio": 0.5},
                                     {"eye_open_ratio": -0.5}, {"lip_open_ratio": 0.6}])
def test_each_slider_moves_the_keypoints_by_the_published_figures(networks, generated, analyser, sliders):
    frame = read_image(generated["grace_hopper"]).frame
    face = largest(analyser.analyse(frame))
    wanted = keypoint_sum(edited_angles((0.0, 0.0, 0.0), sliders), edited_expression(np.zeros((1, 21, 3),
                                                                                               np.float32), sliders))
    own = keypoint_sum((0.0, 0.0, 0.0), np.zeros((1, 21, 3), np.float32))
    openings = 0.0
    if "eye_open_ratio" in sliders:
        value = sliders["eye_open_ratio"]
        openings += abs(value) * (distance_ratio(face.mesh, IMAGE_LEFT_EYE_RATIO) +
                                  distance_ratio(face.mesh, IMAGE_RIGHT_EYE_RATIO) + (0.6 if value > 0 else 0.0))
    if "lip_open_ratio" in sliders:
        value = sliders["lip_open_ratio"]
        openings += abs(value) * (distance_ratio(face.mesh, LIP_RATIO) + (1.0 if value > 0 else 0.0))
    expected = LIFT * (wanted - own + openings)
    result = edit(networks, frame, face, **sliders)
    assert abs(centre_change(result, frame, face) - float(np.clip(expected, -0.4, 0.4))) < 0.012, (sliders, expected)


def test_the_published_figures_themselves():
    smile = edited_expression(np.zeros((1, 21, 3), np.float32), {"mouth_smile": 1.0})
    assert smile[0, 14, 1] == pytest.approx(-0.025) and smile[0, 20, 1] == pytest.approx(-0.015)
    assert smile[0, 17, 2] == pytest.approx(0.004) and smile[0, 3, 1] == pytest.approx(-0.0045)
    grim = edited_expression(np.zeros((1, 21, 3), np.float32), {"mouth_grim": 1.0})
    assert grim[0, 20, 1] == pytest.approx(-0.0374, abs=1e-4)  # -0.06 limited to the coefficient's range
    assert edited_angles((0.0, 0.0, 0.0), {"head_yaw": 1.0, "head_pitch": 1.0, "head_roll": -1.0}) == (-20.0, -60.0,
                                                                                                       -15.0)
    assert edited_angles((0.0, 50.0, 0.0), {"head_yaw": -1.0}) == (0.0, 60.0, 0.0)  # 110 limited to 60
    assert edited_angles((0.0, 70.0, 0.0), {"head_yaw": 0.0}) == (0.0, 70.0, 0.0)  # a head already past stays


def test_auto_takes_live_portrait_when_its_six_files_are_there(tmp_path, generated):
    folder = tmp_path / "models"
    editor_networks(folder)
    output = tmp_path / "edited.png"
    result = run_cli("headless-run", "-t", generated["grace_hopper"], "-o", output, "--processors", "face_editor",
                     "--face-editor-head-yaw", "0.2", "--models-dir", folder)
    assert result.returncode == 0, result.stderr
    assert "face editor: live_portrait" in result.stderr and "does not turn heads" not in result.stderr
    embedded = run_cli("headless-run", "-t", generated["grace_hopper"], "-o", tmp_path / "embedded.png",
                       "--processors", "face_editor", "--face-editor-head-yaw", "0.2", "--models-dir", tmp_path / "none")
    assert embedded.returncode == 0 and "face editor: landmark" in embedded.stderr
    assert "--face-editor-head-yaw: the embedded face editor does not turn heads" in embedded.stderr

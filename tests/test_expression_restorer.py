"""expression_restorer: LivePortrait's three networks built here with their exact inputs and outputs, so the crops,
the expression mixing (groups, factor, limits) and the keypoint arithmetic are checked against hand-computed
values, and the paste-back stays on the face."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import largest
from facefusion import Options
from facefusion.analysis.align import warp_face
from facefusion.inference.runtime import SessionPool, execution_settings
from facefusion.media.image import read_image, write_image
from facefusion.neural.live_portrait import EXPRESSION_MAX, LivePortrait, network_input, rotation
from facefusion.processors.expression_restorer import ExpressionRestorer, mixed_expression
from test_cli import assert_one_line_error, run_cli
from test_neural import _save

ROW, COLUMN = 19, 1
"""The one expression coefficient the test motion extractor sets (a lower-face one, with a wide range)."""
LIFTS = {0.1: 10.0, 1.0: 0.3}
"""Per gain, the test generator adds lift x (sum of wanted keypoints - own keypoints) to every pixel (0..1)."""


def _value(name: str, shape: list[int], values: np.ndarray) -> tuple[onnx.NodeProto, onnx.TensorProto]:
    """A graph output that is a fixed value: the node giving it and the tensor holding it."""
    return (helper.make_node("Identity", [f"{name}_value"], [name]),
            helper.make_tensor(f"{name}_value", TensorProto.FLOAT, shape, values.ravel().tolist()))


def build_networks(folder: Path, gain: float) -> dict[str, Path]:
    """The feature extractor carries the picture (its three channels laid into the volume); the motion extractor
    gives a still head (no turn, scale 1, no offset, keypoints at 0) and one expression coefficient,
    ``gain`` x the picture's mean; the generator lays the picture back out at 512 and lifts it by lift x the
    keypoints' difference (LIFTS)."""
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 256, 256])
    features = helper.make_graph(
        [helper.make_node("Reshape", ["input", "volume_shape"], ["volume"]),
         helper.make_node("Pad", ["volume", "pads"], ["output"])], "features", [image],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 32, 16, 64, 64])],
        [helper.make_tensor("volume_shape", TensorProto.INT64, [5], [1, 3, 16, 64, 64]),
         helper.make_tensor("pads", TensorProto.INT64, [10], [0, 0, 0, 0, 0, 0, 29, 0, 0, 0])])
    one_hot = np.zeros((1, 21, 3), np.float32)
    one_hot[0, ROW, COLUMN] = gain
    parts = [_value(name, shape, values) for name, shape, values in (
        ("pitch", [1, 1], np.zeros(1)), ("yaw", [1, 1], np.zeros(1)), ("roll", [1, 1], np.zeros(1)),
        ("scale", [1, 1], np.ones(1)), ("translation", [1, 3], np.zeros(3)), ("points", [1, 21, 3], np.zeros(63)))]
    motion = helper.make_graph(
        [node for node, _ in parts] + [helper.make_node("ReduceMean", ["input"], ["mean"], keepdims=0),
                                       helper.make_node("Mul", ["one_hot", "mean"], ["expression"])],
        "motion", [image],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in (
            ("pitch", [1, 1]), ("yaw", [1, 1]), ("roll", [1, 1]), ("scale", [1, 1]), ("translation", [1, 3]),
            ("expression", [1, 21, 3]), ("points", [1, 21, 3]))],
        [tensor for _, tensor in parts] + [helper.make_tensor("one_hot", TensorProto.FLOAT, [1, 21, 3],
                                                              one_hot.ravel().tolist())])
    generator = helper.make_graph(
        [helper.make_node("Slice", ["feature_volume", "start", "end", "axis"], ["channels"]),
         helper.make_node("Reshape", ["channels", "picture_shape"], ["picture"]),
         helper.make_node("Resize", ["picture", "", "", "sizes"], ["large"], mode="linear"),
         helper.make_node("Sub", ["source", "target"], ["moved"]),
         helper.make_node("ReduceSum", ["moved"], ["moved_sum"], keepdims=0),
         helper.make_node("Mul", ["moved_sum", "lift"], ["lifted"]),
         helper.make_node("Add", ["large", "lifted"], ["output"])], "generator",
        [helper.make_tensor_value_info("feature_volume", TensorProto.FLOAT, [1, 32, 16, 64, 64]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 21, 3]),
         helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 21, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 512, 512])],
        [helper.make_tensor("start", TensorProto.INT64, [1], [0]), helper.make_tensor("end", TensorProto.INT64, [1], [3]),
         helper.make_tensor("axis", TensorProto.INT64, [1], [1]),
         helper.make_tensor("picture_shape", TensorProto.INT64, [4], [1, 3, 256, 256]),
         helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 3, 512, 512]),
         helper.make_tensor("lift", TensorProto.FLOAT, [], [LIFTS.get(gain, 1.0)])])
    folder.mkdir(parents=True, exist_ok=True)
    return {"feature_extractor": _save(features, folder / "live_portrait_feature_extractor.onnx"),
            "motion_extractor": _save(motion, folder / "live_portrait_motion_extractor.onnx"),
            "generator": _save(generator, folder / "live_portrait_generator.onnx")}


@pytest.fixture(scope="module")
def scene(generated, analyser):
    """(original frame, processed frame: the face brightened as a swap might leave it, the face)."""
    original = read_image(generated["grace_hopper"]).frame
    face = largest(analyser.analyse(original))
    processed = original.copy()
    x1, y1, x2, y2 = face.bbox.astype(int)
    processed[y1:y2, x1:x2] = np.clip(processed[y1:y2, x1:x2].astype(int) + 40, 0, 255).astype(np.uint8)
    return original, processed, face


def restorer(folder: Path, gain: float, **options) -> ExpressionRestorer:
    pool = SessionPool(execution_settings(Options()))
    networks = LivePortrait(pool, paths=build_networks(folder, gain))
    return ExpressionRestorer(Options(processors=["expression_restorer"], **options), pool, networks)


def means(frame: np.ndarray, face) -> float:
    crop, _ = warp_face(frame, face.landmarks_5, "arcface_128", 512)
    return float(network_input(crop).mean())


def centre_change(result: np.ndarray, processed: np.ndarray, face) -> float:
    x1, y1, x2, y2 = face.bbox
    r = (x2 - x1) / 6
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    window = (slice(int(cy - r), int(cy + r)), slice(int(cx - r), int(cx + r)))
    return float((result[window].astype(float) - processed[window]).mean()) / 255


@pytest.mark.parametrize(("gain", "factor", "areas"), [(0.1, 80, ["upper-face", "lower-face"]),
                                                     (1.0, 80, ["upper-face", "lower-face"]),
                                                     (0.1, 0, ["upper-face", "lower-face"]),
                                                     (0.1, 100, ["lower-face"]),
                                                     (0.1, 80, ["upper-face"])])
def test_the_expression_is_mixed_limited_and_drawn_as_computed_by_hand(tmp_path, scene, gain, factor, areas):
    original, processed, face = scene
    target, own = gain * means(original, face), gain * means(processed, face)
    share = np.interp(factor, [0, 100], [0, 1.2])
    wanted = target * share + own * (1 - share) if "lower-face" in areas else own  # the row is a lower-face one
    wanted = min(wanted, float(EXPRESSION_MAX[0, ROW, COLUMN]))  # gain 1 goes past the generator's range
    expected = LIFTS[gain] * (wanted - own)
    result = restorer(tmp_path, gain, expression_restorer_factor=factor, expression_restorer_areas=areas).restore(
        original, face, processed.copy(), face)
    assert abs(centre_change(result, processed, face) - expected) < 0.012, (expected, gain, factor, areas)


def test_the_limits_and_groups_follow_the_published_mixing():
    target = np.full((1, 21, 3), 0.5, np.float32)
    processed = np.zeros((1, 21, 3), np.float32)
    mixed = mixed_expression(target, processed, 100, ["upper-face", "lower-face"])
    assert np.all(mixed[0, [0, 4, 5, 8, 9]] == 0)  # always the processed face's
    assert np.allclose(mixed[0, 3], EXPRESSION_MAX[0, 3])  # 0.6 is past every limit: clipped
    only_upper = mixed_expression(target, processed, 100, ["upper-face"])
    assert np.all(only_upper[0, [3, 7, 14, 17, 18, 19, 20]] == 0) and np.allclose(only_upper[0, 1], EXPRESSION_MAX[0, 1])


def test_the_rotation_is_the_fixed_axis_xyz_one():
    from scipy.spatial.transform import Rotation

    for angles in ([10, -20, 5], [-35, 50, 15], [0, 0, 90]):
        assert np.allclose(rotation(*angles), Rotation.from_euler("xyz", angles, degrees=True).as_matrix(), atol=1e-6)


def test_it_restores_from_the_frame_before_the_other_processors_and_stays_on_the_face(tmp_path, generated, analyser):
    folder = tmp_path / "models"
    build_networks(folder, 0.1)
    target = generated["grace_hopper"]
    edited_only = tmp_path / "edited.png"
    restored = tmp_path / "restored.png"
    common = ["-t", target, "--no-output-watermark", "--models-dir", folder, "--face-editor-lip-open-ratio", "1"]
    first = run_cli("headless-run", *common, "-o", edited_only, "--processors", "face_editor")
    second = run_cli("headless-run", *common, "-o", restored, "--processors", "face_editor", "expression_restorer")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert "expression restorer: live_portrait" in second.stderr
    before, after, original = read_image(edited_only).frame, read_image(restored).frame, read_image(target).frame
    face = largest(analyser.analyse(original))
    # The editor changed the face (the picture's mean with it); the restorer pulls the edited crop's reading
    # back toward the original's: the sign of the change is that of (original - edited).
    direction = np.sign(means(original, face) - means(before, face))
    assert direction != 0 and np.sign(centre_change(after, before, face)) == direction
    x1, y1, x2, y2 = face.bbox
    rows, columns = np.mgrid[0:original.shape[0], 0:original.shape[1]]
    far = np.hypot(columns - (x1 + x2) / 2, rows - (y1 + y2) / 2) > 1.3 * (x2 - x1)
    assert np.array_equal(after[far], before[far])


def test_missing_networks_and_live_are_refused_with_what_to_do(tmp_path, generated):
    result = run_cli("headless-run", "-t", generated["grace_hopper"], "-o", tmp_path / "x.png", "--processors",
                     "expression_restorer", "--models-dir", tmp_path / "empty")
    assert_one_line_error(result, 2, "live_portrait_feature_extractor", "facefusion models download")
    clip = write_image(tmp_path / "still.png", read_image(generated["grace_hopper"]).frame)
    live = run_cli("live", "--camera", clip, "--live-output", tmp_path / "rec.mp4", "--live-frames", "2", "--consent",
                   "--processors", "expression_restorer")
    assert_one_line_error(live, 2, "no processor left that runs live", "expression_restorer: it needs each face's frame",
                          "face_editor")

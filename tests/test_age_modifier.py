"""age_modifier: ONNX files with fran's and styleganex_age's exact contracts, built here, prove the crop, the inputs
fed by name, the direction arithmetic and a paste-back that stays on the face."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from conftest import largest
from facefusion.inference.catalogue import find
from facefusion.inference.contracts import problems
from facefusion.media.image import read_image
from test_cli import assert_one_line_error, run_cli
from test_neural import _save


def fran_like(path: Path, with_background: bool = False, shows: str = "direction") -> Path:
    """A file with fran's contract. ``shows``: "direction" paints the crop in the wanted age / 100 (a grey that
    tells the direction's second value), "crop" returns the crop it was given (``target_with_background`` when it
    declares one)."""
    size = 1024
    inputs = [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, size, size]),
              helper.make_tensor_value_info("direction", TensorProto.FLOAT, [2])]
    if with_background:
        inputs.append(helper.make_tensor_value_info("target_with_background", TensorProto.FLOAT, [1, 3, size, size]))
    if shows == "direction":
        nodes = [helper.make_node("Slice", ["direction", "one", "two", "zero"], ["wanted"]),
                 helper.make_node("Mul", ["target", "nought"], ["blank"]),
                 helper.make_node("Add", ["blank", "wanted"], ["output"])]
    else:
        source = "target_with_background" if with_background else "target"
        nodes = [helper.make_node("Mul", ["direction", "nought"], ["unused"]),
                 helper.make_node("ReduceSum", ["unused"], ["nothing"], keepdims=0),
                 helper.make_node("Add", [source, "nothing"], ["output"])]
    initializers = [helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
                    helper.make_tensor("one", TensorProto.INT64, [1], [1]),
                    helper.make_tensor("two", TensorProto.INT64, [1], [2]),
                    helper.make_tensor("nought", TensorProto.FLOAT, [], [0.0])]
    graph = helper.make_graph(nodes, "fran_like", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])],
                              initializers)
    return _save(graph, path)


def age_run(tmp_path: Path, target: Path, model: Path, *flags: str) -> np.ndarray:
    output = tmp_path / f"aged-{len(list(tmp_path.iterdir()))}.png"
    result = run_cli("headless-run", "-t", target, "-o", output, "--processors", "age_modifier",
                     "--age-modifier-model", model, "--no-output-watermark", *flags)
    assert result.returncode == 0, result.stderr
    assert f"your model {model.name}" in result.stderr
    return read_image(output).frame


def face_and_far(frame: np.ndarray, analyser, far_widths: float = 1.6) -> tuple[tuple[slice, slice], np.ndarray]:
    face = largest(analyser.analyse(frame))
    x1, y1, x2, y2 = face.bbox
    cx, cy, width = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1
    r = width / 5
    centre = (slice(int(cy - r), int(cy + r)), slice(int(cx - r), int(cx + r)))
    rows, columns = np.mgrid[0:frame.shape[0], 0:frame.shape[1]]
    far = np.hypot(columns - cx, rows - cy) > far_widths * width
    return centre, far


def test_fran_gets_the_present_age_and_the_age_wanted(tmp_path, generated, analyser):
    target = generated["grace_hopper"]
    model = fran_like(tmp_path / "fran_like.onnx")
    original = read_image(target).frame
    centre, far = face_and_far(original, analyser)
    older = age_run(tmp_path, target, model, "--age-modifier-current-age", "40", "--age-modifier-direction", "20")
    # direction = [40, 60] / 100: the model paints 0.6, so the middle of the face is 0.6 * 255 grey.
    assert np.abs(older[centre].astype(int) - 153).max() <= 1
    assert np.array_equal(older[far], original[far])  # nothing far from the face changes
    younger = age_run(tmp_path, target, model, "--age-modifier-current-age", "40", "--age-modifier-direction", "-60")
    assert younger[centre].max() <= 1  # 40 - 60 is clipped to 0


def test_without_fairface_the_assumed_age_is_said(tmp_path, generated, analyser):
    target = generated["grace_hopper"]
    model = fran_like(tmp_path / "fran_like.onnx")
    output = tmp_path / "aged.png"
    result = run_cli("headless-run", "-t", target, "-o", output, "--processors", "age_modifier",
                     "--age-modifier-model", model, "--age-modifier-direction", "10", "--no-output-watermark")
    assert result.returncode == 0, result.stderr
    assert "every face was taken to be 30 years old" in result.stderr
    centre, _ = face_and_far(read_image(target).frame, analyser)
    assert np.abs(read_image(output).frame[centre].astype(int) - 102).max() <= 1  # (30 + 10) / 100


def test_a_file_declaring_the_background_input_gets_the_same_crop(tmp_path, generated, analyser):
    target = generated["grace_hopper"]
    model = fran_like(tmp_path / "with_background.onnx", with_background=True, shows="crop")
    original = read_image(target).frame
    centre, far = face_and_far(original, analyser)
    result = age_run(tmp_path, target, model, "--age-modifier-current-age", "30")
    # The crop comes back as it went in: the face is where it was (a resampling apart), nothing far moved.
    assert np.abs(result[centre].astype(int) - original[centre]).mean() < 3.0
    assert np.array_equal(result[far], original[far])


def test_a_file_without_the_contract_is_refused_before_any_work(tmp_path, generated):
    graph = helper.make_graph([helper.make_node("Identity", ["target"], ["output"])], "wrong",
                              [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 512, 512])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 512, 512])])
    wrong = _save(graph, tmp_path / "wrong.onnx")
    assert problems(wrong, find("fran").contract)
    output = tmp_path / "x.png"
    result = run_cli("headless-run", "-t", generated["grace_hopper"], "-o", output, "--processors", "age_modifier",
                     "--age-modifier-model", wrong)
    assert_one_line_error(result, 2, "--age-modifier-model", "wrong.onnx does not fit", "direction")
    assert not output.exists()


def test_a_catalogue_age_model_not_downloaded_says_what_to_do(tmp_path, generated):
    result = run_cli("headless-run", "-t", generated["grace_hopper"], "-o", tmp_path / "x.png", "--processors",
                     "age_modifier", "--age-modifier-model", "styleganex_age", "--models-dir", tmp_path / "none")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "styleganex_age" in result.stderr and "facefusion models download" in result.stderr


def styleganex_like(path: Path, out: int = 512) -> Path:
    """styleganex_age's contract: the output is the wide crop enlarged to ``out`` (so the colour match and the
    paste-back's scaling must land it where it came from), plus the direction (which must be fed as declared)."""
    inputs = [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 256, 256]),
              helper.make_tensor_value_info("target_with_background", TensorProto.FLOAT, [1, 3, 384, 384]),
              helper.make_tensor_value_info("direction", TensorProto.FLOAT, [])]
    nodes = [helper.make_node("Resize", ["target_with_background", "", "", "sizes"], ["wide"], mode="linear"),
             helper.make_node("Mul", ["direction", "nought"], ["nothing"]),
             helper.make_node("Add", ["wide", "nothing"], ["output"])]
    initializers = [helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 3, out, out]),
                    helper.make_tensor("nought", TensorProto.FLOAT, [], [0.0])]
    graph = helper.make_graph(nodes, "styleganex_like", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              initializers)
    return _save(graph, path)


def test_styleganex_contract_lands_its_larger_output_where_the_face_was(tmp_path, generated, analyser):
    from facefusion import Options
    from facefusion.inference.runtime import SessionPool, execution_settings
    from facefusion.neural.age import AgeModel

    model = styleganex_like(tmp_path / "styleganex_like.onnx")
    frame = read_image(generated["grace_hopper"]).frame
    face = largest(analyser.analyse(frame))
    aged = AgeModel(model, find("styleganex_age").contract, SessionPool(execution_settings(Options()))).change(
        frame.copy(), face, 0.0, 50)
    centre, far = face_and_far(frame, analyser, far_widths=2.6)  # its wide crop takes in hair and shoulders
    # Back where it came from, softened by the enlarging (about 4 levels); 3 pixels off would be about 18.
    assert np.abs(aged[centre].astype(int) - frame[centre]).mean() < 6.0
    assert np.array_equal(aged[far], frame[far])


def test_what_covers_the_face_is_left_as_it_is(tmp_path, generated, analyser):
    from facefusion import Options, Studio
    from test_neural import tiny_xseg

    occluder = tiny_xseg(tmp_path / "occluder.onnx")  # says the left half of the crop is covered
    model = fran_like(tmp_path / "fran_like.onnx")
    target = read_image(generated["grace_hopper"]).frame
    face = largest(analyser.analyse(target))
    with Studio(Options(processors=["age_modifier"], face_selector_mode="many", age_modifier_model=str(model),
                        age_modifier_current_age=40, age_modifier_direction=20, face_mask_types=["box", "occlusion"],
                        face_occluder_model=str(occluder))) as studio:
        frame = studio.swap_image([], generated["grace_hopper"]).frame
    x, y = (int(value) for value in face.centre)
    offset = int(face.size * 0.25)
    assert np.abs(frame[y, x - offset].astype(int) - target[y, x - offset]).max() < 3, "the covered half is kept"
    assert np.abs(frame[y, x + offset].astype(int) - 153).max() <= 2, "the rest is aged (the model's grey)"


def test_the_page_says_which_processors_still_need_a_model(tmp_path, monkeypatch):
    from facefusion.processors import missing_models
    from facefusion.ui.layout import processors_info

    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(tmp_path))
    assert missing_models()["age_modifier"] == "fran or styleganex_age"
    assert "age_modifier needs fran or styleganex_age" in processors_info()
    fran_like(tmp_path / "fran.onnx")
    assert "age_modifier" not in missing_models() and "expression_restorer" in missing_models()

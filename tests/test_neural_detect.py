"""Neural face detectors: the SCRFD/RetinaFace and YOLOv8-face output layouts decoded back to the frame,
on small ONNX files built here whose outputs encode a face at a known place."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, largest
from facefusion import Options, Studio
from facefusion.analysis.analyse import FaceAnalyser
from facefusion.analysis.models import choose_detector
from facefusion.errors import InvalidInputError
from facefusion.media.image import read_image
from test_neural import _save

CANVAS = 640


def _constant_outputs(path: Path, name: str, outputs: dict[str, np.ndarray], input_shape: list) -> Path:
    """A model whose outputs are fixed arrays (plus 0 x the input, so the input is really read)."""
    nodes = [helper.make_node("ReduceMean", ["input"], ["mean"], keepdims=0),
             helper.make_node("Mul", ["mean", "nothing"], ["zero"])]
    initializers = [numpy_helper.from_array(np.zeros((), np.float32), "nothing")]
    infos = []
    for output_name, value in outputs.items():
        initializers.append(numpy_helper.from_array(value.astype(np.float32), f"{output_name}_value"))
        nodes.append(helper.make_node("Add", [f"{output_name}_value", "zero"], [output_name]))
        infos.append(helper.make_tensor_value_info(output_name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
                              infos, initializers)
    return _save(graph, path)


def scrfd_file(path: Path, box: np.ndarray, points: np.ndarray, scale: float, stride: int = 16) -> Path:
    """SCRFD layout (9 outputs, 2 anchors a cell) holding one face: ``box``/``points`` in frame pixels,
    ``scale`` the frame-to-canvas factor the detector will use."""
    outputs: dict[str, np.ndarray] = {}
    for kind, width in (("score", 1), ("bbox", 4), ("kps", 10)):
        for level in (8, 16, 32):
            outputs[f"{kind}_{level}"] = np.zeros(((CANVAS // level) ** 2 * 2, width), np.float32)
    box_c, points_c = box * scale, points * scale
    centre = (box_c[:2] + box_c[2:]) / 2
    column, row = int(round(centre[0] / stride)), int(round(centre[1] / stride))
    anchor = np.array([column, row], np.float32) * stride
    index = (row * (CANVAS // stride) + column) * 2 + 1
    outputs[f"score_{stride}"][index] = 0.92
    outputs[f"bbox_{stride}"][index] = np.concatenate([anchor - box_c[:2], box_c[2:] - anchor]) / stride
    outputs[f"kps_{stride}"][index] = ((points_c - anchor) / stride).reshape(-1)
    return _constant_outputs(path, "scrfd_like", outputs, [1, 3, "height", "width"])


def yolo_file(path: Path, box: np.ndarray, points: np.ndarray, scale: float) -> Path:
    """YOLOv8-face layout (1 x 20 x 8400) holding one face."""
    table = np.zeros((1, 20, 8400), np.float32)
    box_c, points_c = box * scale, points * scale
    table[0, 0:2, 1234] = (box_c[:2] + box_c[2:]) / 2
    table[0, 2:4, 1234] = box_c[2:] - box_c[:2]
    table[0, 4, 1234] = 0.88
    table[0, 5:20, 1234] = np.concatenate([points_c, np.ones((5, 1), np.float32)], axis=1).reshape(-1)
    table[0, 4, 99] = 0.2  # below the threshold: must not become a face
    return _constant_outputs(path, "yolo_like", {"output": table}, [1, 3, 640, 640])


@pytest.fixture(scope="module")
def known_face(generated, analyser):
    """A wide frame with a real face, and that face's box and five points as the embedded engine sees them."""
    portrait = read_image(generated["grace_hopper"]).frame
    frame = cv2.copyMakeBorder(portrait, 0, 0, 300, 420, cv2.BORDER_REPLICATE)
    face = largest(analyser.analyse(frame))
    return frame, face.bbox.astype(np.float32), face.landmarks_5.astype(np.float32)


def _scale(frame: np.ndarray) -> float:
    return min(CANVAS / frame.shape[0], CANVAS / frame.shape[1])


@pytest.mark.parametrize("layout", ["scrfd", "yolo"])
def test_the_encoded_face_is_decoded_where_it_is(tmp_path, known_face, layout):
    frame, box, points = known_face
    make = scrfd_file if layout == "scrfd" else yolo_file
    path = make(tmp_path / f"{layout}.onnx", box, points, _scale(frame))
    analyser = FaceAnalyser(detector_choice=choose_detector(str(path)))
    detections = analyser.detector.detect(frame)
    assert len(detections) == 1, "one face, and the low-score candidate dropped"
    assert np.abs(detections[0].bbox - box).max() < 1.0
    assert np.abs(detections[0].landmarks_5 - points).max() < 1.0
    faces = analyser.analyse(frame)
    assert len(faces) == 1 and faces[0].mesh is not None, "the mesh is fitted on the neural detector's box"
    assert np.abs(faces[0].landmarks_5 - points).max() < 1.0, "the neural models align on the detector's own points"


def test_a_face_without_a_mesh_keeps_the_detectors_five_points(tmp_path, known_face):
    frame, _, _ = known_face
    box = np.array([10, 10, 130, 150], np.float32)  # plain background: no mesh fits there
    points = np.array([[40, 60], [100, 60], [70, 90], [45, 120], [95, 120]], np.float32)
    path = scrfd_file(tmp_path / "background.onnx", box, points, _scale(frame))
    faces = FaceAnalyser(detector_choice=choose_detector(str(path))).analyse(frame)
    assert len(faces) == 1 and faces[0].mesh is None
    assert np.abs(faces[0].landmarks_5 - points).max() < 1.0


def test_auto_and_many_pick_catalogue_detectors_from_the_models_folder(tmp_path, known_face):
    frame, box, points = known_face
    assert choose_detector("auto", folder=tmp_path).files == (), "no detector present: the embedded one"
    yolo_file(tmp_path / "yoloface_8n.onnx", box, points, _scale(frame))
    scrfd_file(tmp_path / "scrfd_2.5g.onnx", box + 3, points + 3, _scale(frame))
    auto = choose_detector("auto", folder=tmp_path)
    assert auto.files == (tmp_path / "yoloface_8n.onnx",) and not auto.embedded
    assert "yolo_face (GPL-3.0" in auto.description
    many = choose_detector("many", folder=tmp_path)
    assert many.embedded and len(many.files) == 2 and "scrfd" in many.description
    faces = FaceAnalyser(detector_choice=many).analyse(frame)
    assert len(faces) == 1, "the same face from three detectors is one face"
    named = choose_detector("scrfd", folder=tmp_path)
    assert "NON-COMMERCIAL" in named.description


def test_a_named_detector_that_is_missing_says_where_to_put_it(tmp_path):
    from facefusion.inference.download import ModelMissingError

    with pytest.raises(ModelMissingError, match="retinaface_10g.onnx"):
        choose_detector("retinaface", folder=tmp_path)


def test_a_file_of_the_wrong_shape_is_refused(tmp_path):
    wrong = _constant_outputs(tmp_path / "wrong.onnx", "wrong", {"a": np.zeros((1, 7), np.float32),
                                                                  "b": np.zeros((1, 7), np.float32)},
                              [1, 3, 640, 640])
    analyser = FaceAnalyser(detector_choice=choose_detector(str(wrong)))
    with pytest.raises(InvalidInputError, match="does not fit.*9 outputs"):
        _ = analyser.detector


def test_the_detector_is_named_in_the_engine_report_and_the_cli(tmp_path, known_face, generated):
    frame, box, points = known_face
    portrait = read_image(generated["grace_hopper"]).frame
    path = yolo_file(tmp_path / "mine.onnx", box - [300, 0, 300, 0], points - [300, 0], _scale(portrait))
    with Studio(Options(face_detector_model=str(path), face_selector_mode="many")) as studio:
        result = studio.swap_image([generated["astronaut"]], generated["grace_hopper"])
        assert "your model mine.onnx" in studio.engine
    assert result.faces_found == 1 and result.faces_swapped == 1
    output = tmp_path / "out.png"
    completed = subprocess.run([sys.executable, "-m", "facefusion", "headless-run", "-s", str(generated["astronaut"]),
                                "-t", str(generated["grace_hopper"]), "-o", str(output), "--face-detector-model",
                                str(path), "--face-selector-mode", "many"], cwd=ROOT, capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert output.is_file()


def test_the_neural_swapper_works_on_a_face_the_mesh_cannot_fit(tmp_path, known_face, generated, monkeypatch):
    from test_neural import colour_swapper, tiny_arcface

    frame, _, _ = known_face
    folder = tmp_path / "models"
    folder.mkdir()
    tiny_arcface(folder / "arcface_w600k_r50.onnx")
    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(folder))
    box = np.array([10, 10, 130, 150], np.float32)  # plain background: no mesh fits there
    points = np.array([[40, 60], [100, 60], [70, 90], [45, 120], [95, 120]], np.float32)
    detector = scrfd_file(tmp_path / "background.onnx", box, points, _scale(frame))
    with Studio(Options(face_selector_mode="many")) as plain:  # the source photo, seen by the embedded engine
        plan = plain.plan([str(generated["astronaut"])], frame)
    options = Options(face_detector_model=str(detector), face_selector_mode="many",
                      face_swapper_model=str(colour_swapper(tmp_path / "swapper.onnx")))
    with Studio(options) as studio:
        result = studio.process_frame(frame, plan)
    assert len(result.faces) == 1 and result.faces[0].mesh is None and result.faces_swappable == 1
    assert np.abs(result.frame[70:100, 50:90].astype(int) - frame[70:100, 50:90]).mean() > 10, "the face is painted"
    assert np.array_equal(result.frame[:, 300:], frame[:, 300:]), "nothing changes away from it"
    with Studio(options.replace(face_swapper_model="landmark")) as studio:
        classical = studio.process_frame(frame, plan)
    assert classical.faces_swappable == 0 and np.array_equal(classical.frame, frame), "the classical engine cannot"


def test_in_a_video_faces_without_a_mesh_are_followed_and_swapped(tmp_path, generated, monkeypatch):
    """The neural detector's five points carry the swap through every frame where no mesh fits."""
    import av

    from facefusion.pipeline import Job, run_to_end
    from sample_media import make_clip
    from test_neural import colour_swapper, tiny_arcface

    folder = tmp_path / "models"
    folder.mkdir()
    tiny_arcface(folder / "arcface_w600k_r50.onnx")
    monkeypatch.setenv("FACEFUSION_MODELS_DIR", str(folder))
    clip = make_clip(tmp_path / "clip.mp4", frames=12, size=(320, 240), face_width=70, audio=False)
    box = np.array([8, 8, 88, 108], np.float32)  # a corner of the background: no mesh fits there
    points = np.array([[30, 45], [66, 45], [48, 65], [33, 85], [63, 85]], np.float32)
    # As scrfd_2.5g in the models folder with "many": the embedded detector finds the real faces (the
    # source photo's among them) and the file adds a face in the corner of every frame.
    scrfd_file(folder / "scrfd_2.5g.onnx", box, points, CANVAS / 320)
    options = Options(face_detector_model="many", face_selector_mode="many",
                      face_swapper_model=str(colour_swapper(tmp_path / "swapper.onnx")))
    result = run_to_end(Job(sources=(str(generated["astronaut"]),), target=str(clip),
                            output=str(tmp_path / "out.mp4")), options)
    assert result.faces_swapped >= 12 and not result.failed_frames
    with av.open(str(clip)) as original, av.open(str(tmp_path / "out.mp4")) as made:
        pairs = list(zip(original.decode(video=0), made.decode(video=0)))
    assert len(pairs) == 12
    for before, after in pairs:
        a, b = before.to_ndarray(format="bgr24").astype(int), after.to_ndarray(format="bgr24").astype(int)
        assert np.abs(a[40:80, 30:70] - b[40:80, 30:70]).mean() > 10, "the corner face is painted in every frame"
        assert np.abs(a[200:, :60] - b[200:, :60]).mean() < 3, "the frame's other corner is kept"

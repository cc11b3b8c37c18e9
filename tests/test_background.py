"""background_remover: the people kept, the background transparent or painted; embedded (mediapipe) on real photos,
catalogue-shaped ONNX files built here with the exact contract."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from onnx import TensorProto, helper
from PIL import Image

from conftest import SHARED, has_shared, largest
from facefusion import Options, Studio
from facefusion.analysis.matte import OnnxMatte, SelfieMatte
from facefusion.inference.catalogue import find
from facefusion.inference.runtime import SessionPool, execution_settings
from facefusion.media.image import read_image, write_image
from facefusion.processors.background_remover import despill, rgba
from sample_media import astronaut, grace_hopper
from test_cli import assert_one_line_error, run_cli
from test_neural import _save

GREEN = (0, 177, 64)


def photos() -> list[Path]:
    """Portraits whose top corners are background: the development ones when here, else the package photos."""
    if has_shared():
        return [SHARED / name for name in ("man_beard_curly_01.png", "woman_frontal_01.webp", "man_frontal_01.jpg",
                                           "woman_eyes_closed_01.jpeg")]
    return [astronaut(), grace_hopper()]


def rgba_of(path: Path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGBA"))


def face_centre(frame: np.ndarray, analyser) -> tuple[slice, slice]:
    x1, y1, x2, y2 = largest(analyser.analyse(frame)).bbox
    r = (x2 - x1) / 4
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return slice(int(cy - r), int(cy + r)), slice(int(cx - r), int(cx + r))


def top_corners(alpha: np.ndarray) -> np.ndarray:
    h, w = alpha.shape[:2]
    return np.concatenate([alpha[: h // 12, : w // 12].ravel(), alpha[: h // 12, -w // 12:].ravel()])


@pytest.mark.parametrize("photo", photos(), ids=lambda path: path.name)
def test_the_embedded_remover_keeps_the_face_and_clears_the_corners(tmp_path, photo, analyser):
    output = tmp_path / "cut.png"
    result = run_cli("headless-run", "-t", photo, "-o", output, "--processors", "background_remover",
                     "--no-output-watermark")
    assert result.returncode == 0, result.stderr
    assert "mediapipe selfie segmentation" in result.stderr
    assert "not chosen" not in result.stderr and "no face found" not in result.stderr  # it needs no face
    picture = rgba_of(output)
    original = read_image(photo).frame
    assert picture[:, :, 3][face_centre(original, analyser)].min() == 255
    assert top_corners(picture[:, :, 3]).max() <= 8
    # A transparent fill keeps every pixel's colour: only the transparency is new.
    assert np.array_equal(picture[:, :, 2::-1], original)


def green_screen(tmp_path: Path, analyser) -> Path:
    """A person from a real photo on a studio green, with green spilled on their edge (as a screen does)."""
    photo = photos()[0]
    frame = read_image(photo).frame
    matte = SelfieMatte().matte(frame)[:, :, None]
    screen = np.array(GREEN[::-1], np.float32)
    edge = np.clip(1.0 - np.abs(matte - 0.5) * 2.0, 0.0, 1.0)  # strongest where the matte is half
    spilled = frame.astype(np.float32)
    spilled[:, :, 1] = np.clip(spilled[:, :, 1] + 60 * edge[:, :, 0], 0, 255)
    composite = spilled * matte + screen * (1.0 - matte)
    return write_image(tmp_path / "green.png", np.clip(composite + 0.5, 0, 255).astype(np.uint8))


def test_a_green_screen_frame_is_cut_out_and_its_spill_taken_away(tmp_path, analyser):
    target = green_screen(tmp_path, analyser)
    output = tmp_path / "cut.png"
    result = run_cli("headless-run", "-t", target, "-o", output, "--processors", "background_remover",
                     "--background-remover-despill-color", "0", "255", "0", "255")
    assert result.returncode == 0, result.stderr
    picture = rgba_of(output)
    frame = read_image(target).frame
    assert picture[:, :, 3][face_centre(frame, analyser)].min() == 255
    assert top_corners(picture[:, :, 3]).max() <= 8
    # Where the person is (opaque), green no longer rises above the mean of red and blue.
    opaque = picture[:, :, 3] > 128
    before = frame[:, :, 1].astype(int) - (frame[:, :, 0].astype(int) + frame[:, :, 2]) // 2
    after = picture[:, :, 1].astype(int) - (picture[:, :, 0].astype(int) + picture[:, :, 2]) // 2
    assert (before[opaque] > 10).mean() > 0.02
    assert (after[opaque] > 10).mean() < 0.01


def test_despill_lowers_only_the_screen_channel_above_the_others():
    frame = np.array([[[50, 200, 60], [50, 40, 60], [200, 90, 10]]], np.uint8)  # B G R
    done = despill(frame, rgba([0, 255, 0, 255]))
    assert done[0, 0].tolist() == [50, 55, 60]  # green held to the mean of blue and red
    assert done[0, 1].tolist() == [50, 40, 60]  # no green excess: untouched
    assert done[0, 2].tolist() == [200, 90, 10]  # green below the mean (105): untouched
    half = despill(frame, rgba([0, 255, 0, 128]))
    assert 120 <= half[0, 0, 1] <= 130


def test_an_opaque_fill_colour_paints_the_background_and_keeps_the_picture_opaque(tmp_path, analyser):
    photo = photos()[0]
    output = tmp_path / "blue.png"
    result = run_cli("headless-run", "-t", photo, "-o", output, "--processors", "background_remover",
                     "--background-remover-fill-color", "0", "0", "255")
    assert result.returncode == 0, result.stderr
    picture = rgba_of(output)
    assert picture[:, :, 3].min() == 255
    h, w = picture.shape[:2]
    corner = picture[: h // 12, : w // 12, :3].reshape(-1, 3).mean(axis=0)
    assert corner[2] > 240 and corner[0] < 15 and corner[1] < 15
    original = read_image(photo).frame
    centre = face_centre(original, analyser)
    assert np.abs(picture[centre][:, :, 2::-1].astype(int) - original[centre]).mean() < 4.0  # the watermark


def test_a_picture_type_without_transparency_is_said_and_a_bad_colour_refused(tmp_path):
    photo = photos()[0]
    result = run_cli("headless-run", "-t", photo, "-o", tmp_path / "cut.jpg", "--processors", "background_remover")
    assert result.returncode == 0, result.stderr
    assert ".jpg cannot carry transparency" in result.stderr and "write .png or .webp" in result.stderr
    bad = run_cli("headless-run", "-t", photo, "-o", tmp_path / "x.png", "--processors", "background_remover",
                  "--background-remover-fill-color", "10", "20")
    assert_one_line_error(bad, 2, "--background-remover-fill-color", "three (R G B)")
    assert not (tmp_path / "x.png").exists()


def red_matte_model(path: Path, size: int, mean: float, std: float) -> Path:
    """A background remover whose matte is the frame's red channel (0..1): undoes the contract's normalisation,
    so a wrong size, channel order or normalisation shows in the matte."""
    nodes = [helper.make_node("Slice", ["input", "start", "end", "axis"], ["red"]),
             helper.make_node("Mul", ["red", "std"], ["scaled"]),
             helper.make_node("Add", ["scaled", "mean"], ["output"])]
    initializers = [helper.make_tensor("start", TensorProto.INT64, [1], [0]),
                    helper.make_tensor("end", TensorProto.INT64, [1], [1]),
                    helper.make_tensor("axis", TensorProto.INT64, [1], [1]),
                    helper.make_tensor("std", TensorProto.FLOAT, [], [std]),
                    helper.make_tensor("mean", TensorProto.FLOAT, [], [mean])]
    graph = helper.make_graph(nodes, "red_matte",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, size, size])],
                              initializers)
    return _save(graph, path)


def test_a_users_onnx_remover_gets_the_frame_as_its_contract_says(tmp_path):
    contract = find("modnet").contract  # a user's file is held to the first catalogue remover's contract
    model = red_matte_model(tmp_path / "mine.onnx", contract.size or 512, contract.mean[0], contract.std[0])
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[:, :200, 2] = 255  # the left half red (BGR)
    target = write_image(tmp_path / "half.png", frame)
    output = tmp_path / "cut.png"
    result = run_cli("headless-run", "-t", target, "-o", output, "--processors", "background_remover",
                     "--background-remover-model", model)
    assert result.returncode == 0, result.stderr
    assert "your model mine.onnx" in result.stderr
    alpha = rgba_of(output)[:, :, 3]
    assert alpha[:, :190].min() >= 250 and alpha[:, 210:].max() <= 5
    wrong = red_matte_model(tmp_path / "small.onnx", 320, 0.0, 1.0)
    refused = run_cli("headless-run", "-t", target, "-o", tmp_path / "x.png", "--processors", "background_remover",
                      "--background-remover-model", wrong)
    assert_one_line_error(refused, 2, "small.onnx does not fit", "[1, 3, 512, 512]")


def test_a_class_model_keeps_every_class_but_the_background(tmp_path):
    """u2net_cloth's contract: several class maps; everything not class 0 is kept."""
    size = 8
    classes = np.zeros((1, 4, size, size), np.float32)
    classes[0, 0, :, :4] = 1.0  # class 0 (background) wins on the left
    classes[0, 2, :, 4:] = 1.0  # class 2 on the right
    nodes = [helper.make_node("Mul", ["input", "zero"], ["nothing"]),
             helper.make_node("ReduceSum", ["nothing"], ["sum"], keepdims=1),
             helper.make_node("Add", ["classes", "sum"], ["output"])]
    graph = helper.make_graph(nodes, "classes",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, size, size])],
                              [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
                               helper.make_tensor("classes", TensorProto.FLOAT, classes.shape, classes.ravel())])
    path = _save(graph, tmp_path / "classes.onnx")
    contract = find("u2net_cloth").contract
    import dataclasses

    matte = OnnxMatte(path, dataclasses.replace(contract, size=size), SessionPool(execution_settings(Options())),
                      "test").matte(np.zeros((80, 80, 3), np.uint8))
    assert matte[:, :30].max() == 0.0 and matte[:, 50:].min() == 1.0


def test_a_video_says_it_keeps_no_transparency(tmp_path):
    from sample_media import make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=6, size=(320, 240), face_width=120)
    output = tmp_path / "out.mp4"
    result = run_cli("headless-run", "-t", clip, "-o", output, "--processors", "background_remover",
                     "--background-remover-fill-color", "0", "255", "0")
    assert result.returncode == 0, result.stderr
    assert "keeps no transparency" not in result.stderr  # an opaque fill is what a video shows
    frames = read_clip(output)
    assert len(frames) == 6
    plain = run_cli("headless-run", "-t", clip, "-o", tmp_path / "plain.mp4", "--processors", "background_remover")
    assert plain.returncode == 0 and "a .mp4 video keeps no transparency" in plain.stderr
    assert "write .webm for a transparent one" in plain.stderr


def test_a_webm_keeps_the_transparency_with_its_sound_and_watermark(tmp_path, analyser):
    import av

    from facefusion.safety.inspect import inspect_file

    if has_shared():
        clip = SHARED / "video_talking_man_01.mp4"
    else:
        from sample_media import make_clip

        clip = make_clip(tmp_path / "clip.mp4", frames=12, size=(320, 240), face_width=120)
    output = tmp_path / "cut.webm"
    result = run_cli("headless-run", "-t", clip, "-o", output, "--processors", "background_remover",
                     "--trim-frame-end", "12")
    assert result.returncode == 0, result.stderr
    assert "keeps no transparency" not in result.stderr
    with av.open(str(output)) as container:
        stream = container.streams.video[0]
        decoder = av.CodecContext.create("libvpx-vp9", "r")  # FFmpeg's own VP9 decoder leaves the alpha out
        frames = [frame for packet in container.demux(stream) for frame in decoder.decode(packet)]
        has_audio = bool(container.streams.audio)
    assert len(frames) == 12 and frames[0].format.name == "yuva420p"
    with av.open(str(clip)) as source:
        assert has_audio == bool(source.streams.audio)
    picture = frames[6].to_ndarray(format="bgra")
    assert top_corners(picture[:, :, 3]).max() <= 8
    assert picture[:, :, 3][face_centre(np.ascontiguousarray(picture[:, :, :3]), analyser)].min() >= 250
    assert inspect_file(output).marked


def read_clip(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_the_new_processors_are_offered_everywhere_with_their_options():
    from facefusion.options import option_specs
    from facefusion.service.api import capabilities
    from facefusion.ui.controls import PROCESSOR_GROUPS

    specs = option_specs()
    offered = capabilities()["options"]
    for name in ("background_remover", "face_editor", "age_modifier"):
        assert name in specs["processors"].choices and name in offered["processors"]["choices"]
        assert PROCESSOR_GROUPS[name.replace("_", " ")] == name  # the page shows its options when it is checked
    assert specs["background_remover_model"].choices[:2] == ("auto", "mediapipe")
    assert offered["face_editor_mouth_smile"]["minimum"] == -1.0 and offered["age_modifier_model"]["default"] == "fran"
    assert "NON-COMMERCIAL" in offered["age_modifier_model"]["help"]
    studio = Studio(Options(processors=["background_remover"]))
    try:
        assert studio.engine is not None and "background remover" in studio.engine
    finally:
        studio.close()


def test_a_transparent_target_enlarged_by_a_frame_enhancer_keeps_its_transparency(tmp_path):
    """The target's own alpha and the remover's follow the picture to the enhancer's size."""
    from test_neural_corrections import plain_upscaler

    frame = read_image(photos()[0]).frame[:160, :160]
    own = np.full(frame.shape[:2], 255, np.uint8)
    own[:, :40] = 0  # the target's own left strip is transparent
    target = tmp_path / "own_alpha.png"
    Image.fromarray(np.dstack([frame[:, :, ::-1], own]), "RGBA").save(target)
    upscaler = plain_upscaler(tmp_path / "up.onnx")
    for processors in (["frame_enhancer"], ["background_remover", "frame_enhancer"]):
        output = tmp_path / f"{len(processors)}.png"
        result = run_cli("headless-run", "-t", target, "-o", output, "--processors", *processors,
                         "--frame-enhancer-model", upscaler, "--frame-enhancer-blend", "100")
        assert result.returncode == 0, result.stderr
        picture = rgba_of(output)
        assert picture.shape[:2] == (320, 320)
        assert picture[:, :70, 3].max() == 0  # the target's own transparent strip, enlarged


def test_a_transparent_run_picks_an_output_type_that_keeps_it():
    from facefusion.media.image import output_suffix, over_checkerboard
    from facefusion.processors.background_remover import makes_transparency

    cut = Options(processors=["face_swapper", "background_remover"])
    painted = Options(processors=["background_remover"], background_remover_fill_color=[0, 255, 0])
    assert makes_transparency(cut) and not makes_transparency(painted) and not makes_transparency(Options())
    assert output_suffix("a.jpg", True) == ".png" and output_suffix("a.webp", True) == ".webp"
    assert output_suffix("a.mov", True) == ".webm" and output_suffix("a.mov") == ".mp4"
    assert output_suffix("a.jpg") == ".jpg"
    # The page's preview shows a transparency over grey squares.
    frame = np.full((32, 32, 3), 10, np.uint8)
    alpha = np.zeros((32, 32), np.uint8)
    alpha[:, 16:] = 255
    shown = over_checkerboard(frame, alpha)
    assert set(np.unique(shown[:, :16])) == {120, 200} and np.all(shown[:, 16:] == 10)

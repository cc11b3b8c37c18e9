"""One definition of every option; the Python API."""
from __future__ import annotations

import numpy as np
import pytest

import facefusion
from facefusion.analysis.select import sort_faces
from facefusion.errors import InvalidInputError
from facefusion.options import PROCESSOR_NAMES, Options, make_options
from facefusion.processors import PROCESSORS
from facefusion.types import Face


def test_registry_and_option_choices_agree():
    assert set(PROCESSORS) == set(PROCESSOR_NAMES)


def test_options_validate_with_the_flag_name():
    with pytest.raises(InvalidInputError, match="--face-mask-blur"):
        Options().replace(face_mask_blur=2.0)
    with pytest.raises(InvalidInputError, match="--face-selector-order"):
        make_options(face_selector_order="random")
    with pytest.raises(InvalidInputError, match="unknown option"):
        make_options(face_swaper_morph=10)
    with pytest.raises(InvalidInputError, match="name each processor once"):
        make_options(processors=["face_swapper", "face_swapper"])


def _face(x: float, y: float, size: float, score: float) -> Face:
    return Face(bbox=np.array([x, y, x + size, y + size], np.float32), score=score,
                landmarks_5=np.zeros((5, 2), np.float32))


@pytest.mark.parametrize("order, expected", [
    ("left-right", [0, 1, 2]), ("right-left", [2, 1, 0]), ("top-bottom", [1, 2, 0]), ("bottom-top", [0, 2, 1]),
    ("small-large", [0, 2, 1]), ("large-small", [1, 2, 0]), ("best-worst", [2, 0, 1]), ("worst-best", [1, 0, 2]),
])
def test_face_orders(order, expected):
    faces = [_face(0, 300, 50, 0.8), _face(200, 0, 150, 0.6), _face(400, 100, 100, 0.9)]
    assert [faces.index(face) for face in sort_faces(faces, order)] == expected


def test_swap_image_returns_array_and_writes_when_asked(tmp_path, generated):
    output = tmp_path / "api.png"
    result = facefusion.swap_image(generated["astronaut"], generated["grace_hopper"], output,
                                   face_selector_mode="many")
    assert isinstance(result, np.ndarray) and result.dtype == np.uint8 and result.shape == (600, 512, 3)
    assert output.is_file()
    assert facefusion.swap_image([generated["astronaut"]], generated["grace_hopper"],
                                 face_selector_mode="many").shape == result.shape


def test_studio_reports_what_it_did(generated):
    with facefusion.Studio(Options(face_selector_mode="many")) as studio:
        report = studio.swap_image([generated["astronaut"]], generated["two_people"])
        assert (report.faces_found, report.faces_selected, report.faces_swapped) == (2, 2, 2)
        report = studio.swap_image([generated["astronaut"]], generated["no_face"])
        assert report.faces_found == 0 and report.warnings


def test_no_source_face_error_names_the_file(generated):
    with pytest.raises(facefusion.NoSourceFaceError, match="no_face.png"):
        facefusion.swap_image(generated["no_face"], generated["grace_hopper"])

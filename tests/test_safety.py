"""The operator's safety settings: protected people refused as source and as target, the audit log."""
from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest

from conftest import SHARED, shared_file
from facefusion import Options, Studio
from facefusion.errors import InvalidInputError, RefusedError
from facefusion.media.image import read_image, write_image
from facefusion.safety.policy import SafetyPolicy
from facefusion.safety.protected import cache_folder, load_protected
from test_cli import run_cli


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Each test has its own cache of protected descriptors (the subprocesses inherit it)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def another_photo(path, side: int = 420) -> np.ndarray:
    """A different picture of the same person: mirrored, cropped tighter, smaller and darker."""
    frame = read_image(path).frame
    height, width = frame.shape[:2]
    crop = frame[height // 10:height - height // 10, width // 10:width - width // 10]
    mirrored = cv2.flip(crop, 1)
    scale = side / max(mirrored.shape[:2])
    smaller = cv2.resize(mirrored, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cv2.convertScaleAbs(smaller, alpha=0.85, beta=-5)


@pytest.fixture
def protected_astronaut(tmp_path, generated):
    """A folder protecting the astronaut (as a sub-folder of one photo) and Grace Hopper's look-alike nobody."""
    folder = tmp_path / "protected"
    (folder / "astronaut").mkdir(parents=True)
    write_image(folder / "astronaut" / "portrait.jpg", another_photo(generated["astronaut"]))
    return folder


def audit_lines(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_selected_target_face_of_a_protected_person_is_refused_and_nothing_is_written(
        tmp_path, generated, protected_astronaut):
    output, log = tmp_path / "out.jpg", tmp_path / "audit.jsonl"
    result = run_cli("headless-run", "-s", generated["grace_hopper"], "-t", generated["two_people"], "-o", output,
                     "--face-selector-mode", "many", "--protected-faces", protected_astronaut, "--audit-log", log)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "'astronaut'" in result.stderr and "two_people.png" in result.stderr
    assert "position" not in result.stderr.lower()
    assert not output.exists()
    assert list(tmp_path.glob("out*")) == []
    [entry] = audit_lines(log)
    assert entry["decision"] == "refused" and "'astronaut'" in entry["reason"]
    assert entry["target"]["sha256"] == sha256(generated["two_people"])
    assert entry["sources"][0]["sha256"] == sha256(generated["grace_hopper"])
    assert entry["output"] is None


def test_the_same_target_runs_when_only_an_unprotected_face_is_selected(tmp_path, generated, protected_astronaut):
    output, log = tmp_path / "out.jpg", tmp_path / "audit.jsonl"
    result = run_cli("headless-run", "-s", generated["grace_hopper"], "-t", generated["two_people"], "-o", output,
                     "--face-selector-mode", "reference", "--reference-face-path", generated["grace_hopper"],
                     "--protected-faces", protected_astronaut, "--audit-log", log)
    assert result.returncode == 0, result.stderr
    assert "1 selected" in result.stderr
    assert "reminder: use only the faces of people who have agreed to it" in result.stderr
    [entry] = audit_lines(log)
    assert entry["decision"] == "written" and entry["output_sha256"] == sha256(output)
    assert entry["watermark_id"] and entry["watermark_id"] in result.stderr


def test_a_source_photo_of_a_protected_person_is_refused(tmp_path, generated, protected_astronaut):
    output = tmp_path / "out.png"
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output,
                     "--protected-faces", protected_astronaut)
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: refused: the source photo astronaut.png shows a "
                                                       "protected person ('astronaut'")
    assert not output.exists()


def test_a_video_showing_a_protected_person_leaves_neither_output_nor_parts(tmp_path, generated,
                                                                           protected_astronaut):
    from sample_media import make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=20, size=(480, 270), face_width=110)
    output, log = tmp_path / "result" / "out.mp4", tmp_path / "audit.jsonl"
    output.parent.mkdir()
    result = run_cli("headless-run", "-s", generated["grace_hopper"], "-t", clip, "-o", output,
                     "--protected-faces", protected_astronaut, "--audit-log", log)
    assert result.returncode == 3, result.stderr
    assert "'astronaut'" in result.stderr and "clip.mp4" in result.stderr
    assert list(output.parent.iterdir()) == []
    assert [entry["decision"] for entry in audit_lines(log)] == ["refused"]


def test_without_the_policy_nothing_is_refused(tmp_path, generated):
    with Studio(Options(face_selector_mode="many")) as studio:
        result = studio.swap_image([generated["grace_hopper"]], generated["two_people"], tmp_path / "out.jpg")
    assert result.faces_swapped == 2


def test_the_library_refuses_with_a_typed_error(tmp_path, generated, protected_astronaut):
    policy = SafetyPolicy(protected_faces=str(protected_astronaut))
    with Studio(Options(face_selector_mode="many"), safety=policy) as studio:
        with pytest.raises(RefusedError, match="'astronaut'") as refused:
            studio.swap_image([generated["grace_hopper"]], generated["two_people"], tmp_path / "out.jpg")
    assert refused.value.exit_code == 3
    assert not (tmp_path / "out.jpg").exists()


def test_descriptors_are_cached_per_folder_and_worked_out_again_for_a_changed_photo(
        tmp_path, generated, analyser, protected_astronaut):
    first = load_protected(protected_astronaut, analyser)
    assert [person.name for person in first] == ["astronaut"]
    [cache_file] = cache_folder().iterdir()
    # The cache is what a second load reads: a marked value in it comes back.
    cached = json.loads(cache_file.read_text())
    stamp = next(iter(cached["embeddings"]))
    cached["embeddings"][stamp][0] = 123.0
    cache_file.write_text(json.dumps(cached))
    assert load_protected(protected_astronaut, analyser)[0].embeddings[0][0] == 123.0
    # A photo written again is described again; a new file adds an entry named after it.
    photo = protected_astronaut / "astronaut" / "portrait.jpg"
    write_image(photo, another_photo(generated["astronaut"], side=400))
    write_image(protected_astronaut / "grace.png", another_photo(generated["grace_hopper"]))
    again = {person.name: person for person in load_protected(protected_astronaut, analyser)}
    assert sorted(again) == ["astronaut", "grace"]
    assert again["astronaut"].embeddings[0][0] != 123.0


def test_a_protected_photo_without_a_face_is_a_clear_error(tmp_path, generated, analyser):
    folder = tmp_path / "protected"
    folder.mkdir()
    write_image(folder / "landscape.png", read_image(generated["no_face"]).frame)
    with pytest.raises(InvalidInputError, match="no face found in .*landscape.png"):
        load_protected(folder, analyser)
    with pytest.raises(InvalidInputError, match="is not a folder"):
        load_protected(tmp_path / "missing", analyser)


def test_a_batch_with_a_refused_pair_ends_with_exit_3_and_writes_the_others(tmp_path, generated,
                                                                           protected_astronaut):
    targets = tmp_path / "targets"
    targets.mkdir()
    write_image(targets / "a_astronaut.png", read_image(generated["astronaut"]).frame)
    write_image(targets / "b_grace.png", read_image(generated["grace_hopper"]).frame)
    result = run_cli("batch-run", "-s", generated["grace_hopper"], "-t", str(targets / "*.png"), "-o",
                     str(tmp_path / "out" / "{target_name}.png"), "--protected-faces", protected_astronaut)
    assert result.returncode == 3, result.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["b_grace.png"]
    assert "a_astronaut.png: refused:" in result.stderr


@pytest.mark.skipif(not (SHARED / "two_faces_01.jpg").is_file(), reason="needs ../shared/testdata")
def test_another_real_photo_of_the_target_person_protects_him(tmp_path):
    """Obama's official portrait protects him in a different photo, where he stands beside Biden."""
    folder = tmp_path / "protected"
    folder.mkdir()
    write_image(folder / "barack_obama.jpg", read_image(shared_file("man_frontal_01.jpg")).frame)
    target, source = shared_file("two_faces_01.jpg"), shared_file("woman_frontal_02.jpg")
    output = tmp_path / "out.jpg"
    refused = run_cli("headless-run", "-s", source, "-t", target, "-o", output, "--face-selector-mode", "many",
                      "--protected-faces", folder)
    assert refused.returncode == 3, refused.stderr
    assert "'barack_obama'" in refused.stderr and not output.exists()
    # Biden alone, chosen by a reference photo, is not protected.
    allowed = run_cli("headless-run", "-s", source, "-t", target, "-o", output, "--face-selector-mode", "reference",
                      "--reference-face-path", shared_file("man_frontal_02.jpg"), "--protected-faces", folder)
    assert allowed.returncode == 0, allowed.stderr
    assert output.exists()
    # The photo with his face cut by the edge is refused as a source.
    source_refused = run_cli("headless-run", "-s", shared_file("man_partial_face_01.jpg"), "-t",
                             shared_file("woman_frontal_02.jpg"), "-o", tmp_path / "out2.jpg",
                             "--protected-faces", folder)
    assert source_refused.returncode == 3, source_refused.stderr
    assert "'barack_obama'" in source_refused.stderr

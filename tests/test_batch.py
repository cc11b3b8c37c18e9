"""batch-run: one run per (source, target) pair from glob patterns."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from facefusion.batch import expand_batch
from facefusion.errors import InvalidInputError
from facefusion.media.image import read_image


@pytest.fixture()
def folders(tmp_path, generated):
    faces, targets = tmp_path / "faces", tmp_path / "targets"
    faces.mkdir()
    targets.mkdir()
    shutil.copy(generated["astronaut"], faces / "alice.png")
    shutil.copy(generated["grace_hopper"], faces / "bob.png")
    shutil.copy(generated["grace_hopper"], targets / "one.png")
    shutil.copy(generated["astronaut"], targets / "two.png")
    return tmp_path


def test_patterns_expand_to_every_pair_in_a_stable_order(folders):
    items = expand_batch([str(folders / "faces/*.png")], [str(folders / "targets/*.png")],
                         str(folders / "out/{index}-{source_name}-{target_name}.{target_extension}"))
    assert [(Path(item.source).stem, Path(item.target).stem) for item in items] == [
        ("alice", "one"), ("alice", "two"), ("bob", "one"), ("bob", "two")]
    assert [Path(item.output).name for item in items] == ["0-alice-one.png", "1-alice-two.png", "2-bob-one.png",
                                                          "3-bob-two.png"]
    alone = expand_batch([], [str(folders / "targets/*.png")], str(folders / "out/{target_name}.jpg"))
    assert [item.source for item in alone] == [None, None]
    files = expand_batch([], [str(folders / "targets/one.png"), str(folders / "targets/two.png")],
                         str(folders / "out/{target_name}.jpg"))
    assert len(files) == 2, "file names (a pattern the shell already expanded) work as patterns"


@pytest.mark.parametrize("sources, targets, output, message", [
    (["faces/*.jpg"], ["targets/*.png"], "out/{target_name}.png", "-s/--source-pattern '.*faces/\\*.jpg' matches no file"),
    (["faces/*.png"], ["targets/*.png"], "out/{target}.png", "'target' is not a placeholder"),
    (["faces/*.png"], ["targets/*.png"], "out/{target_name}.png", "the same output"),
    ([], ["targets/*.png"], "targets/{target_name}.png", "would overwrite an input"),
])
def test_mistakes_are_refused_before_any_run(folders, sources, targets, output, message):
    with pytest.raises(InvalidInputError, match=message):
        expand_batch([str(folders / pattern) for pattern in sources], [str(folders / pattern) for pattern in targets],
                     str(folders / output))


def test_the_cli_runs_every_pair_and_goes_on_after_a_broken_target(folders):
    (folders / "targets" / "broken.png").write_bytes(b"not an image at all")
    result = subprocess.run([sys.executable, "-m", "facefusion", "batch-run", "-s", str(folders / "faces/*.png"),
                             "-t", str(folders / "targets/*.png"), "-o",
                             str(folders / "out/{source_name}/{target_name}.jpg"), "--face-selector-mode", "many"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    written = sorted(str(path.relative_to(folders / "out")) for path in (folders / "out").rglob("*.jpg"))
    assert written == ["alice/one.jpg", "alice/two.jpg", "bob/one.jpg", "bob/two.jpg"]
    assert "broken.png" in result.stderr and "Traceback" not in result.stderr
    assert "batch done: 4 of 6 run(s) written; failed: broken.png, broken.png" in result.stderr
    swapped = read_image(folders / "out/alice/one.jpg").frame.astype(int)
    assert np.abs(swapped - read_image(folders / "targets/one.png").frame).max() > 40, "the face was swapped"


def test_the_cli_refuses_a_swap_batch_without_sources(folders):
    result = subprocess.run([sys.executable, "-m", "facefusion", "batch-run", "-t", str(folders / "targets/*.png"),
                             "-o", str(folders / "out/{target_name}.png")], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "needs a source" in result.stderr
    assert not (folders / "out").exists()


def test_the_python_api_returns_each_pair_with_its_result_or_error(folders):
    import facefusion

    (folders / "targets" / "broken.png").write_bytes(b"not an image")
    outcomes = facefusion.swap_batch([str(folders / "faces/alice.png")], [str(folders / "targets/*.png")],
                                     str(folders / "out/{target_name}.png"), face_selector_mode="many")
    by_target = {Path(item.target).name: outcome for item, outcome in outcomes}
    assert set(by_target) == {"broken.png", "one.png", "two.png"}
    assert isinstance(by_target["broken.png"], facefusion.StudioError)
    assert isinstance(by_target["one.png"], facefusion.RunResult) and by_target["one.png"].faces_swapped == 1
    assert (folders / "out/two.png").is_file()

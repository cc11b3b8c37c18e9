"""What the disk and the file system refuse: answered with one line naming the path, nothing half-written.

A full disk is a small tmpfs the tests mount themselves (skipped where mounting is not allowed); a
normal user is ``nobody`` through setpriv (skipped where that cannot run the product).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import pytest

from conftest import ROOT
from sample_media import grace_hopper, make_clip
from test_cli import assert_one_line_error, run_cli


@pytest.fixture()
def small_disk():
    """A function mounting a tmpfs of the given size (bytes) and returning its folder; unmounted after."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="facefusion-small-disk-"))
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            folder.rmdir()
            pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip()})")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)
        folder.rmdir()


def _fill(folder: Path, leave: int) -> None:
    """Fill the disk under ``folder`` until ``leave`` bytes are free."""
    free = shutil.disk_usage(folder).free
    (folder / "filler").write_bytes(b"\0" * max(0, free - leave))


def _names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("storage") / "clip.mp4", frames=40, size=(640, 360), face_width=110)


def test_an_output_under_proc_is_refused_before_any_work(generated):
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", "/proc/out.jpg")
    assert_one_line_error(result, 2, "/proc", "choose a folder on a disk")


def test_a_300_character_file_name_is_refused(tmp_path, generated):
    output = tmp_path / ("a" * 300 + ".jpg")
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output)
    assert_one_line_error(result, 2, "file name is too long", "shorter name")


def test_a_symlink_loop_as_input_is_named(tmp_path, generated):
    (tmp_path / "a.jpg").symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", tmp_path / "a.jpg", "-o", tmp_path / "out.jpg")
    assert_one_line_error(result, 2, "a.jpg", "loop of symbolic links")


def test_a_folder_a_normal_user_may_not_write_to_is_refused(generated):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root to run the product as nobody")
    work = Path(tempfile.mkdtemp(prefix="facefusion-nobody-"))
    try:
        os.chmod(work, 0o755)
        shutil.copy(generated["astronaut"], work / "source.png")
        shutil.copy(generated["grace_hopper"], work / "target.png")
        locked = work / "locked"
        locked.mkdir(mode=0o555)
        os.chmod(locked, 0o555)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        if subprocess.run([*nobody, sys.executable, "-c", "import facefusion"], cwd=ROOT).returncode != 0:
            pytest.skip("nobody cannot run the product's interpreter here")
        result = subprocess.run([*nobody, sys.executable, "-m", "facefusion", "headless-run", "-s", work / "source.png",
                                 "-t", work / "target.png", "-o", locked / "out.jpg"],
                                cwd=ROOT, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "HOME": str(work), "MPLCONFIGDIR": str(work)})
        assert_one_line_error(result, 2, str(locked), "permission denied")
        assert not any(locked.iterdir())
    finally:
        shutil.rmtree(work)


def test_a_full_disk_while_writing_an_image(small_disk, generated):
    folder = small_disk(2 * 1024 * 1024)
    _fill(folder, 64 * 1024)
    output = folder / "out.png"
    result = run_cli("headless-run", "-s", generated["astronaut"], "-t", generated["grace_hopper"], "-o", output)
    assert_one_line_error(result, 1, str(output), "the disk is full")
    assert _names(folder) == {"filler"}  # no output and no temporary left


def test_a_full_disk_while_writing_the_first_segment(small_disk, clip):
    folder = small_disk(2 * 1024 * 1024)
    _fill(folder, 32 * 1024)
    output = folder / "out.mp4"
    result = run_cli("headless-run", "-s", grace_hopper(), "-t", clip, "-o", output, "--no-output-watermark")
    assert_one_line_error(result, 1, "out.mp4.parts", "the disk is full")
    assert _names(folder) == {"filler"}  # nothing finished, so nothing kept


def test_a_full_disk_while_joining_the_segments_is_finished_by_the_same_command(small_disk, clip, tmp_path):
    reference = tmp_path / "reference.mp4"
    assert run_cli("headless-run", "-s", grace_hopper(), "-t", clip, "-o", reference,
                   "--no-output-watermark").returncode == 0
    size = reference.stat().st_size
    # Room for the segments (about the output's size) but not for the output beside them.
    folder = small_disk(int(size * 1.5))
    output = folder / "out.mp4"
    result = run_cli("headless-run", "-s", grace_hopper(), "-t", clip, "-o", output, "--no-output-watermark")
    assert_one_line_error(result, 1, str(output), "the disk is full", "only joins them")
    assert _names(folder) == {"out.mp4.parts"}
    subprocess.run(["mount", "-o", f"remount,size={3 * size + 1024 * 1024}", str(folder)], check=True)
    result = run_cli("headless-run", "-s", grace_hopper(), "-t", clip, "-o", output, "--no-output-watermark")
    assert result.returncode == 0, result.stderr
    assert "resuming at frame 40 of 40" in result.stderr
    assert _names(folder) == {"out.mp4"}
    with av.open(str(output)) as made, av.open(str(reference)) as expected:
        assert made.streams.video[0].frames == expected.streams.video[0].frames == 40
        assert len(made.streams.audio) == 1

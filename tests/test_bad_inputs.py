"""A corpus of bad and unusual inputs, made here, that every run of the suite goes through the CLI.

For each case: the exit code the README documents (0 done, 2 invalid input or options), no traceback,
one line when it fails, nothing under the output name unless it succeeded (and no temporary left in
the output folder), and every input file byte for byte as it was.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from facefusion.cli import main
from sample_media import astronaut, grace_hopper, make_clip

# One test process makes the corpus (a decompression bomb, a 110-megapixel picture, videos) for both its users.
pytestmark = pytest.mark.xdist_group("bad_inputs")


@dataclass(frozen=True)
class Case:
    name: str
    target: str
    """File name in the corpus folder (made by ``make``), or an absolute path."""
    make: Callable[[Path], None] | None
    code: int
    fragment: str = ""
    """What the one line (exit 2) or the output of a successful run (exit 0) must contain."""
    output: str = "out.png"
    extra: tuple[str, ...] = ()
    source: str | None = None
    """A corpus file as the source instead of the astronaut."""
    inputs: tuple[str, ...] = field(default=())


def _photo() -> Image.Image:
    return Image.open(grace_hopper()).convert("RGB")


def _save(name: str, image: Callable[[], Image.Image], **save: object) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        image().save(folder / name, **save)
    return make


def _bytes(name: str, content: Callable[[], bytes]) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / name).write_bytes(content())
    return make


def _jpeg_bytes() -> bytes:
    return Path(grace_hopper()).read_bytes()


def _bomb(folder: Path) -> None:
    # 30000 x 30000 pixels of one colour (900 million; 2.7 GB as a frame) in a file of about 100 kB.
    Image.new("1", (30000, 30000), 0).save(folder / "bomb.png")


def _animated(folder: Path) -> None:
    frames = [_photo().resize((128, 160)).rotate(angle) for angle in (0, 10, 20)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100)


def _exif_rotated(folder: Path) -> None:
    image = _photo().rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 8  # shown turned back upright
    image.save(folder / "exif_rotated.jpg", exif=exif)


def _video(name: str, frames: int = 20, size: tuple[int, int] = (160, 120), pix_fmt: str = "yuv420p",
           codec: str = "libx264", audio: bool = False) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        picture = np.asarray(_photo().resize(size))[:, :, ::-1]
        with av.open(str(folder / name), "w") as container:
            stream = container.add_stream(codec, rate=25)
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
            for index in range(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(picture, index, axis=1)), format="bgr24")
                for packet in stream.encode(frame.reformat(format=pix_fmt)):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    return make


def _empty_video(folder: Path) -> None:
    with av.open(str(folder / "no_frames.mkv"), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        container.start_encoding()


def _sound_only(folder: Path) -> None:
    with av.open(str(folder / "sound_only.mp4"), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        samples = (np.sin(np.arange(44100) / 20) * 0.3).astype(np.float32)[None, :]
        for start in range(0, 44100, 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 44100, start, Fraction(1, 44100)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _truncated_clip(folder: Path) -> None:
    whole = make_clip(folder / "whole_clip.mp4", frames=30, size=(320, 180), face_width=70)
    data = whole.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[:len(data) // 3])
    whole.unlink()


def _copy(name: str, origin: Callable[[], str | Path]) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        shutil.copy(origin(), folder / name)
    return make


def _loop(folder: Path) -> None:
    (folder / "loop_a.jpg").symlink_to(folder / "loop_b.jpg")
    (folder / "loop_b.jpg").symlink_to(folder / "loop_a.jpg")


def _dangling(folder: Path) -> None:
    (folder / "dangling.jpg").symlink_to(folder / "gone.jpg")


def _folder(folder: Path) -> None:
    (folder / "a_folder.jpg").mkdir()


IMAGE = "photo.png"
CASES = [
    # Files under image names.
    Case("empty image", "empty.jpg", _bytes("empty.jpg", bytes), 2, "file is empty"),
    Case("random bytes as png", "random.png", _bytes("random.png", lambda: np.random.default_rng(1).bytes(5000)), 2,
         "random.png"),
    Case("text as jpg", "text.jpg", _bytes("text.jpg", lambda: b"not a picture, just words\n" * 40), 2, "text.jpg"),
    Case("truncated jpeg", "truncated.jpg", _bytes("truncated.jpg", lambda: _jpeg_bytes()[:len(_jpeg_bytes()) // 3]),
         2, "truncated.jpg"),
    Case("header only jpeg", "header.jpg", _bytes("header.jpg", lambda: _jpeg_bytes()[:200]), 2, "header.jpg"),
    Case("png under a jpg name", "png_named.jpg", _save("png_named.jpg", _photo, format="PNG"), 0, "1 swapped"),
    Case("jpeg under a webp name", "jpeg_named.webp", _save("jpeg_named.webp", _photo, format="JPEG"), 0, "1 swapped"),
    Case("decompression bomb", "bomb.png", _bomb, 2, "too large"),
    Case("huge image", "huge.png", _save("huge.png", lambda: Image.new("RGB", (11000, 10000), (90, 90, 90)),
                                         compress_level=1), 2, "too large"),
    Case("16-bit grey png", "grey16.png", _save("grey16.png", lambda: Image.fromarray(
        (np.asarray(_photo().convert("L"), np.uint16) * 257).astype(np.uint16))), 0, "1 swapped"),
    Case("32-bit integer tiff", "int32.tiff", _save("int32.tiff", lambda: Image.fromarray(
        np.asarray(_photo().convert("L"), np.int32) * 65536)), 0, "1 swapped"),
    Case("float tiff", "float.tiff", _save("float.tiff", lambda: Image.fromarray(
        np.asarray(_photo().convert("L"), np.float32) / 255)), 0, "1 swapped"),
    Case("cmyk jpeg", "cmyk.jpg", _save("cmyk.jpg", lambda: _photo().convert("CMYK")), 0, "1 swapped"),
    Case("palette png", "palette.png", _save("palette.png", lambda: _photo().convert("P")), 0, "1 swapped"),
    Case("rgba png", "rgba.png", _save("rgba.png", lambda: _photo().convert("RGBA")), 0, "1 swapped"),
    Case("grey jpeg", "grey.jpg", _save("grey.jpg", lambda: _photo().convert("L")), 0, "1 swapped"),
    Case("grey with alpha png", "grey_alpha.png", _save("grey_alpha.png", lambda: _photo().convert("LA")), 0,
         "1 swapped"),
    Case("one-bit png", "one_bit.png", _save("one_bit.png", lambda: _photo().convert("1")), 0, ""),
    Case("bmp", "photo.bmp", _save("photo.bmp", _photo), 0, "1 swapped"),
    Case("exif-rotated jpeg", "exif_rotated.jpg", _exif_rotated, 0, "1 swapped"),
    Case("animated gif", "animated.gif", _animated, 2, "unsupported"),
    Case("1x1 image", "dot.png", _save("dot.png", lambda: Image.new("RGB", (1, 1), (200, 180, 160))), 0,
         "no face found"),
    Case("1x60000 image", "thin.png", _save("thin.png", lambda: Image.new("RGB", (1, 60000), (128, 128, 128))), 0,
         "no face found"),
    Case("unicode and spaces in the name", "фото 'лицо' 😀.png", _save("фото 'лицо' 😀.png", _photo), 0, "1 swapped"),
    Case("a name starting with a dash", "-dash.png", _save("-dash.png", _photo), 0, "1 swapped"),
    # Paths that are not files.
    Case("missing file", "missing.jpg", None, 2, "file not found"),
    Case("folder as target", "a_folder.jpg", _folder, 2, "is a folder, not a file"),
    Case("device as target", "/dev/zero", None, 2, "unsupported target type"),
    Case("symlink loop", "loop_a.jpg", _loop, 2, "loop of symbolic links"),
    Case("dangling symlink", "dangling.jpg", _dangling, 2, "file not found"),
    Case("unsupported type", "notes.txt", _bytes("notes.txt", lambda: b"hello"), 2, "unsupported target type"),
    # Videos.
    Case("empty video", "empty.mp4", _bytes("empty.mp4", bytes), 2, "file is empty", "out.mp4"),
    Case("random bytes as mp4", "random.mp4", _bytes("random.mp4", lambda: np.random.default_rng(3).bytes(4000)), 2,
         "cannot read video", "out.mp4"),
    Case("truncated mp4", "truncated.mp4", _truncated_clip, 2, "truncated.mp4", "out.mp4"),
    Case("sound only", "sound_only.mp4", _sound_only, 2, "sound only", "out.mp4"),
    Case("no frames", "no_frames.mkv", _empty_video, 2, "no frames", "out.mp4"),
    Case("picture under a video name", "picture.mp4", _copy("picture.mp4", grace_hopper), 0, "frame(s)", "out.mp4"),
    Case("10-bit video", "ten_bit.mkv", _video("ten_bit.mkv", codec="libx265", pix_fmt="yuv420p10le"), 0, "frame(s)",
         "out.mp4"),
    Case("4:4:4 video", "full_chroma.mp4", _video("full_chroma.mp4", pix_fmt="yuv444p"), 0, "frame(s)", "out.mp4"),
    Case("odd size video", "odd.mp4", _video("odd.mp4", size=(161, 121), pix_fmt="yuv444p"), 0, "frame(s)", "out.mp4"),
    Case("tiny video", "tiny.mp4", _video("tiny.mp4", size=(16, 16)), 0, "frame(s)", "out.mp4"),
    Case("one-frame video", "one_frame.mp4", _video("one_frame.mp4", frames=1), 0, "1 frame(s)", "out.mp4"),
    Case("video source", IMAGE, _save(IMAGE, _photo), 2, "unsupported image type", source="source_clip.mp4",
         inputs=("source_clip.mp4",)),
    # Outputs.
    Case("output under /proc", IMAGE, _save(IMAGE, _photo), 2, "/proc", "/proc/out.png"),
    Case("output name too long", IMAGE, _save(IMAGE, _photo), 2, "too long", "x" * 300 + ".png"),
    Case("output folder missing", IMAGE, _save(IMAGE, _photo), 2, "does not exist", "no/such/out.png"),
    Case("output a missing folder", IMAGE, _save(IMAGE, _photo), 2, "names a folder that does not exist", "new/"),
    Case("output is the target", IMAGE, _save(IMAGE, _photo), 2, "is an input", IMAGE),
    Case("output type gif", IMAGE, _save(IMAGE, _photo), 2, "unsupported output type", "out.gif"),
    Case("image output for a video", "clip.mp4", _video("clip.mp4"), 2, "out.jpg", "out.jpg"),
    # Options.
    Case("morph out of range", IMAGE, _save(IMAGE, _photo), 2, "--face-swapper-morph",
         extra=("--face-swapper-morph", "500")),
    Case("unknown selector mode", IMAGE, _save(IMAGE, _photo), 2, "invalid choice",
         extra=("--face-selector-mode", "everyone")),
    Case("negative quality", IMAGE, _save(IMAGE, _photo), 2, "--output-image-quality",
         extra=("--output-image-quality", "-5")),
    Case("trim past the end", "clip.mp4", _video("clip.mp4"), 2, "--trim-frame-start", "out.mp4",
         extra=("--trim-frame-start", "999")),
    Case("unknown processor", IMAGE, _save(IMAGE, _photo), 2, "invalid choice", extra=("--processors", "face_melter")),
]


def _exists(path: Path) -> bool:
    try:
        return os.path.lexists(path)
    except OSError:  # a name too long to even ask about
        return False


def _digest(path: Path) -> str | None:
    if path.is_symlink() and not path.exists() or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    made: set[str] = set()
    _video("source_clip.mp4")(folder)
    for case in CASES:
        key = case.target
        if case.make is not None and key not in made:
            case.make(folder)
            made.add(key)
    return folder


def _run(case: Case, folder: Path, work: Path) -> tuple[Case, subprocess.CompletedProcess[str], Path]:
    """The command line in this process (its own process costs a second of start for each of ~45 cases;
    tests/test_cli.py runs the real process: exit codes, one line, no native chatter)."""
    output = Path(case.output) if case.output.startswith("/") else work / case.output
    if case.output == IMAGE:
        output = folder / IMAGE
    target = str(folder / case.target)  # (an absolute target stays as it is)
    source = str(folder / case.source) if case.source else str(astronaut())
    written = str(output) + ("/" if case.output.endswith("/") else "")  # (Path drops a trailing slash)
    arguments = ["headless-run", "-s", source, "-t", target, "-o", written, "--face-selector-mode", "many", *case.extra]
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(arguments)
        except SystemExit as exit:  # argparse's refusals
            code = int(exit.code or 0)
        except Exception:  # what a process would show as a traceback
            errors.write("Traceback (in process)\n" + traceback.format_exc())
            code = 1
    return case, subprocess.CompletedProcess(arguments, code, "", errors.getvalue()), output


def test_every_bad_input_gets_a_documented_answer(corpus, tmp_path):
    before = {path.name: _digest(path) for path in corpus.iterdir()}
    works, outcomes = {}, []
    for number, case in enumerate(CASES):
        works[case.name] = tmp_path / f"case_{number:02d}"
        works[case.name].mkdir()
        outcomes.append(_run(case, corpus, works[case.name]))
    problems = []
    for case, result, output in outcomes:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        where = f"{case.name}: exit {result.returncode}, {lines[-3:]}"
        if result.returncode != case.code or "Traceback" in result.stderr:
            problems.append(where)
            continue
        if case.code != 0:
            if len(lines) != 1 or not lines[0].startswith("error: ") or case.fragment not in lines[0]:
                problems.append(where)
            if output != corpus / IMAGE and _exists(output):
                problems.append(f"{case.name}: {output} exists after a failure")
        elif case.fragment not in result.stderr or not _exists(output):
            problems.append(where)
        work = works[case.name]
        left = [path.name for path in work.iterdir() if path != output]
        if left:
            problems.append(f"{case.name}: left in the output folder: {left}")
    after = {path.name: _digest(path) for path in corpus.iterdir()}
    assert after == before, "an input was changed"
    assert not problems, "\n".join(problems)
    assert len(CASES) >= 40


API_CASES = ["empty image", "random bytes as png", "truncated jpeg", "decompression bomb", "animated gif",
             "unsupported type", "1x60000 image", "cmyk jpeg"]


def test_the_web_api_answers_bad_inputs_readably_and_keeps_working(corpus, tmp_path, generated):
    import app
    import gradio_client

    from test_ui import _file, _free_port

    demo, engine = app.create_app(tmp_path / "out")
    demo.queue(default_concurrency_limit=1, max_size=8)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True,
                            allowed_paths=[str(engine.output_dir)])
    try:
        client = gradio_client.Client(url, verbose=False)
        by_name = {case.name: case for case in CASES}
        for name in API_CASES:
            case = by_name[name]
            try:
                output = client.predict([_file(astronaut())], _file(corpus / case.target), "many", 80, True,
                                        api_name="/swap_image")
                assert case.code == 0 and Path(output).is_file(), name
            except gradio_client.exceptions.AppError as error:
                message = str(error)
                assert case.code != 0, f"{name}: {message}"
                assert case.fragment in message and "Traceback" not in message, f"{name}: {message}"
                assert "/" not in message.split(":", 1)[-1], f"{name}: a server path in {message}"
        # After all of them, the app still works.
        output = client.predict([_file(generated["astronaut"])], _file(generated["grace_hopper"]), "many", 80, True,
                                api_name="/swap_image")
        assert Path(output).is_file()
    finally:
        demo.close()
        engine.close()


def test_an_output_naming_any_photo_of_a_face_map_is_refused(tmp_path, generated):
    """A face map's entry can name several photos (``0=a.png,b.png``) and a reference photo: the output may
    overwrite none of them, whichever place it has in the entry."""
    import pytest

    from facefusion import Options, Studio
    from facefusion.errors import InvalidInputError

    first, second, reference = (shutil.copy(generated["astronaut"], tmp_path / name)
                                for name in ("a.png", "b.png", "ref.png"))
    kept = Path(second).read_bytes()
    with Studio(Options(face_selector_mode="many")) as studio:
        for face_map, output in (([f"0={first},{second}"], second), ([f"{reference}={first}"], reference)):
            with pytest.raises(InvalidInputError, match="output path is an input file"):
                studio.swap_image([str(first)], generated["grace_hopper"], output, face_map)
    assert Path(second).read_bytes() == kept

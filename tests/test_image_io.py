"""Image files: orientation, alpha, quality, atomic writes."""
from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from PIL import Image

from facefusion import Options, Studio
from facefusion.errors import InvalidInputError, StorageError
from facefusion.media.image import read_image, write_image


def test_exif_orientation_is_honoured(tmp_path, generated, analyser):
    upright = Image.open(generated["grace_hopper"]).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone stores a portrait shot
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)
    loaded = read_image(path).frame
    assert loaded.shape[:2] == (upright.height, upright.width)
    assert len(analyser.analyse(loaded)) == 1


def test_alpha_is_kept_for_png_and_webp(tmp_path, generated):
    rgba = Image.open(generated["grace_hopper"]).convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, rgba.width, dtype=np.uint8), (rgba.height, 1))
    rgba.putalpha(Image.fromarray(alpha))
    target = tmp_path / "with_alpha.png"
    rgba.save(target)
    with Studio(Options(face_selector_mode="many")) as studio:
        for extension in ("png", "webp"):
            output = tmp_path / f"out.{extension}"
            studio.swap_image([generated["astronaut"]], target, output)
            written = read_image(output)
            assert written.alpha is not None
            assert np.abs(written.alpha.astype(int) - alpha).max() <= 2


def test_output_quality_changes_file_size(tmp_path, generated):
    sizes = []
    for quality in (30, 95):
        with Studio(Options(face_selector_mode="many", output_image_quality=quality)) as studio:
            output = tmp_path / f"q{quality}.jpg"
            studio.swap_image([generated["astronaut"]], generated["grace_hopper"], output)
            sizes.append(output.stat().st_size)
    assert sizes[0] < sizes[1] * 0.7


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    output = tmp_path / "out.png"
    output.write_bytes(b"previous result")

    def broken_save(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(StorageError, match="the disk is full"):
        write_image(output, np.zeros((8, 8, 3), np.uint8))
    assert output.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_unsupported_output_extension_is_refused():
    with pytest.raises(InvalidInputError, match="unsupported output type"):
        write_image("out.gif", np.zeros((8, 8, 3), np.uint8))


@pytest.mark.parametrize("extension", [".png", ".jpg", ".webp"])
def test_written_images_say_what_made_them(tmp_path, extension):
    path = write_image(tmp_path / f"out{extension}", np.zeros((8, 8, 3), np.uint8),
                       description="face swapper: landmark")
    with Image.open(path) as image:
        if extension == ".png":
            found = (image.info.get("Software"), image.info.get("Comment"))
        else:
            exif = image.getexif()
            found = (exif.get(0x0131), exif.get(0x010E))
    assert found == ("facefusion-studio", "face swapper: landmark")


@pytest.mark.parametrize("extension, key", [(".png", "XML:com.adobe.xmp"), (".jpg", "xmp"), (".webp", "xmp")])
def test_swapped_images_carry_the_iptc_digital_source_type(tmp_path, generated, extension, key):
    output = tmp_path / f"out{extension}"
    with Studio(Options(face_selector_mode="many")) as studio:
        studio.swap_image([generated["astronaut"]], generated["grace_hopper"], output)
        expected = studio.digital_source_type
    assert expected == "composite", "the offline engine composites the source photo's own pixels"
    with Image.open(output) as image:
        xmp = image.info.get(key)
    xmp = xmp.decode() if isinstance(xmp, bytes) else xmp
    assert 'DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/composite"' in xmp
    assert "facefusion-studio" in xmp and "face detector" in xmp, "creator tool and what ran"


@pytest.mark.parametrize("mode, top", [("I;16", 65535), ("I", 65535), ("F", 1.0)])
def test_high_bit_depth_greyscale_is_scaled_not_clipped(tmp_path, mode, top):
    """A 16-bit greyscale PNG (or a 32-bit integer or float picture) keeps its tones: Pillow's own
    conversion clips it, which made such a target all white."""
    ramp = np.tile(np.linspace(0, 1, 64), (16, 1))
    values = (ramp * top).astype(np.float32 if mode == "F" else np.int32)
    picture = Image.fromarray(values.astype(np.uint16), "I;16") if mode == "I;16" else Image.fromarray(values, mode)
    path = tmp_path / ("grey.tiff" if mode == "F" else "grey.png")
    picture.save(path)
    frame = read_image(path).frame
    assert frame.shape == (16, 64, 3)
    assert np.abs(frame[:, :, 0].astype(float) - ramp * 255).max() <= 1.5
    assert (frame[:, :, 0] == frame[:, :, 2]).all()


def test_written_images_get_the_users_umask(tmp_path, generated):
    previous = os.umask(0o027)
    try:
        written = write_image(tmp_path / "out.png", read_image(generated["astronaut"]).frame)
    finally:
        os.umask(previous)
    assert written.stat().st_mode & 0o777 == 0o640

"""Image files in and out, with EXIF orientation, alpha, quality and atomic writes.

Pillow reads and writes (it honours EXIF orientation and encodes WebP with quality); frames are
handed to the rest of the library as BGR arrays with any alpha kept aside.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InvalidInputError, storage_error
from ..permissions import default_file_mode
from ..types import FrameBGR
from .files import IMAGE_EXTENSIONS, check_name_length, check_writable_folder, existing_file, is_image_path, same_file

WRITE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
MAX_PIXELS = 100_000_000
"""Larger images are refused: 100 megapixels already need about 1 GB while they are processed."""

_PIL_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}
SOFTWARE = "facefusion-studio"
_EXIF_SOFTWARE, _EXIF_DESCRIPTION = 0x0131, 0x010E


IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
"""IPTC's vocabulary for how a picture was made (read by photo tools and content-credential checkers)."""


def _xmp(description: str | None, source_type: str) -> str:
    """An XMP packet saying what made the picture, in IPTC's and Dublin Core's terms."""
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
            'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            f'Iptc4xmpExt:DigitalSourceType={quoteattr(IPTC_SOURCE_TYPES + source_type)} '
            f'xmp:CreatorTool={quoteattr(SOFTWARE)}>'
            f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(description or "")}</rdf:li>'
            '</rdf:Alt></dc:description></rdf:Description></rdf:RDF></x:xmpmeta>')


def _metadata_args(extension: str, description: str | None, source_type: str | None) -> dict[str, object]:
    """Save arguments that mark the file as made here and say what was done to it (the engine and
    models that ran, and with ``source_type`` IPTC's digital source type in XMP), so a result is never
    passed off as an untouched photo."""
    xmp = _xmp(description, source_type) if source_type else None
    if extension == ".png":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Software", SOFTWARE)
        if description:
            info.add_text("Comment", description)
        if xmp:
            info.add_itxt("XML:com.adobe.xmp", xmp)
        return {"pnginfo": info}
    exif = Image.Exif()
    exif[_EXIF_SOFTWARE] = SOFTWARE
    if description:
        exif[_EXIF_DESCRIPTION] = description
    return {"exif": exif.tobytes(), **({"xmp": xmp.encode()} if xmp else {})}


@dataclass(frozen=True)
class LoadedImage:
    frame: FrameBGR
    alpha: np.ndarray | None
    path: str


def resized(frame: FrameBGR, scale: float) -> FrameBGR:
    """``frame`` scaled by ``scale`` (area averaging down, cubic up); a side never shrinks below one pixel
    (a 1x60000 picture's preview is 1x256, not an empty image)."""
    if scale == 1.0:
        return frame
    height, width = frame.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def fit_within(frame: FrameBGR, max_side: int) -> FrameBGR:
    """``frame`` shrunk so its longer side is at most ``max_side`` (a copy when it already fits)."""
    scale = max_side / max(frame.shape[:2])
    return resized(frame, scale) if scale < 1 else frame.copy()



def output_suffix(target: str | os.PathLike[str], transparent: bool = False) -> str:
    """The result's format for a target: a video becomes mp4, a PNG or WebP picture keeps its format (and its
    transparency), other pictures become JPEG. ``transparent``: the run makes a transparency (a removed
    background), so a video becomes webm and a picture PNG unless it is WebP."""
    suffix = Path(target).suffix.lower()
    if not is_image_path(target):
        return ".webm" if transparent else ".mp4"
    if suffix in (".png", ".webp"):
        return suffix
    return ".png" if transparent else ".jpg"


def read_image(path: str | os.PathLike[str]) -> LoadedImage:
    """Read an image as BGR (+ alpha), upright as its EXIF orientation says.

    Raises InvalidInputError naming the file when it is missing, empty, corrupt, unsupported or huge.
    """
    file = existing_file(path)
    if file.suffix.lower() not in IMAGE_EXTENSIONS:
        raise InvalidInputError(
            f"unsupported image type '{file.suffix}': {file}; use one of {', '.join(IMAGE_EXTENSIONS)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as opened:
                if opened.width * opened.height > MAX_PIXELS:
                    raise InvalidInputError(
                        f"image too large ({opened.width}x{opened.height}): {file}; "
                        f"scale it below {MAX_PIXELS // 1_000_000} megapixels")
                image = ImageOps.exif_transpose(opened)
                image.load()
    except InvalidInputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InvalidInputError(f"cannot read image (corrupt or not an image): {file}") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InvalidInputError(f"image too large: {file}; scale it down first") from error
    return _to_frame(image, str(file))


def _eight_bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit greyscale images (integer or float) scaled to 8 bits: Pillow's own conversion
    clips them, which turns a 16-bit photo all white."""
    if image.mode not in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return image
    values = np.asarray(image).astype(np.float64)
    if image.mode == "F":
        top = 1.0 if values.size and values.max() <= 1.0 else 255.0
    else:
        top = 65535.0 if values.size and values.max() <= 65535 else float(max(values.max(), 1))
    scaled = np.clip(np.round(np.clip(values, 0, None) * (255.0 / top)), 0, 255).astype(np.uint8)
    return Image.fromarray(scaled, "L")


def _to_frame(image: Image.Image, path: str) -> LoadedImage:
    image = _eight_bit(image)
    alpha = None
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"))
        alpha = np.ascontiguousarray(rgba[:, :, 3])
        rgb = rgba[:, :, :3]
    else:
        rgb = np.asarray(image.convert("RGB"))
    frame = np.ascontiguousarray(rgb[:, :, ::-1])
    return LoadedImage(frame=frame, alpha=alpha, path=path)


def check_output_path(output: str | os.PathLike[str], inputs: list[str],
                      extensions: tuple[str, ...] = WRITE_EXTENSIONS, kind: str = "an image") -> Path:
    """Refuse an output path that cannot be written or that would overwrite an input."""
    out = Path(output)
    check_name_length(out)
    if out.is_dir():
        raise InvalidInputError(f"output path is a folder: {out}; give a file name in it, e.g. "
                                f"{out / ('result' + extensions[0])}")
    if str(output).endswith(("/", os.sep)):
        raise InvalidInputError(f"output path names a folder that does not exist: {out}; make it first, or give "
                                f"a file name, e.g. {out / ('result' + extensions[0])}")
    if out.suffix.lower() not in extensions:
        raise InvalidInputError(
            f"unsupported output type '{out.suffix}' for {kind}: {out}; use one of {', '.join(extensions)}")
    if not out.parent.is_dir():
        raise InvalidInputError(f"output folder does not exist: {out.parent}")
    for item in inputs:
        if same_file(item, out):
            raise InvalidInputError(f"output path is an input file: {out}; choose another output path")
    check_writable_folder(out)
    return out


ALPHA_EXTENSIONS = (".png", ".webp")
"""Picture types whose files keep a transparency."""


def carries_alpha(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in ALPHA_EXTENSIONS


def over_checkerboard(frame: FrameBGR, alpha: np.ndarray | None, square: int = 16) -> FrameBGR:
    """A picture with a transparency shown the way image editors show one: over grey squares (for previews and
    sheets, which cannot show the transparency itself)."""
    if alpha is None:
        return frame
    rows, columns = np.mgrid[0:frame.shape[0], 0:frame.shape[1]]
    board = np.where(((rows // square + columns // square) % 2 == 0)[:, :, None], 200, 120).astype(np.float32)
    share = alpha.astype(np.float32)[:, :, None] / 255
    return (frame * share + board * (1 - share) + 0.5).astype(np.uint8)


def encode_image(frame: FrameBGR, alpha: np.ndarray | None, extension: str, quality: int) -> Image.Image:
    rgb = frame[:, :, ::-1]
    if alpha is not None and extension in ALPHA_EXTENSIONS:
        return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def write_image(path: str | os.PathLike[str], frame: FrameBGR, alpha: np.ndarray | None = None,
                quality: int = 90, description: str | None = None, source_type: str | None = None) -> Path:
    """Write atomically: the file appears under its name only when complete. ``description`` (what
    was done) goes into the file's metadata with the software's name; ``source_type`` (an IPTC digital
    source type such as ``compositeWithTrainedAlgorithmicMedia``) into its XMP."""
    out = Path(path)
    extension = out.suffix.lower()
    if extension not in WRITE_EXTENSIONS:
        raise InvalidInputError(f"unsupported output type '{out.suffix}': {out}")
    image = encode_image(frame, alpha, extension, quality)
    save_args: dict[str, object] = {}
    if extension in (".jpg", ".jpeg"):
        save_args = {"quality": max(1, quality), "subsampling": 0 if quality >= 90 else 2}
    elif extension == ".webp":
        save_args = {"quality": quality, "lossless": quality >= 100}
    save_args.update(_metadata_args(extension, description, source_type))
    directory = out.parent if str(out.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=extension, dir=directory)
    except OSError as error:
        raise storage_error(error, out, "write") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            image.save(stream, format=_PIL_FORMATS[extension], **save_args)
        os.chmod(temporary, default_file_mode())  # as any file the user makes, not mkstemp's private 0600
        os.replace(temporary, out)
    except OSError as error:  # a full disk, a vanished folder: nothing is left under either name
        Path(temporary).unlink(missing_ok=True)
        raise storage_error(error, out, "write") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out

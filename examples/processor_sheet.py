"""Render sheets of processors that need no source: one row per photo, the photo and then one column per setting.

    .venv/bin/python examples/processor_sheet.py -o editor.png --editor-set
    .venv/bin/python examples/processor_sheet.py -o cutout.png --background-set
    .venv/bin/python examples/processor_sheet.py -o sheet.png photo.jpg --column "smile: --processors face_editor
        --face-editor-mouth-smile 0.8" --column "cut out: --processors background_remover"

Each column is a label and the command-line options of one run. Transparent results are shown over a
checkerboard, so what was cut away shows.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

from contact_sheet import TESTDATA, _fit, _label  # noqa: E402
from facefusion import Studio  # noqa: E402
from facefusion.cli import build_parser, options_from_args  # noqa: E402
from facefusion.media.image import over_checkerboard, read_image  # noqa: E402

EDITOR_PHOTOS = ["woman_frontal_02.jpg", "man_frontal_02.jpg", "woman_frontal_03.jpg", "woman_tilted_01.png",
                 "man_beard_curly_01.png"]
EDITOR_COLUMNS = [f"{label}: --processors face_editor --face-editor-{flag}" for label, flag in (
    ("smile", "mouth-smile 0.8"), ("frown", "mouth-smile -0.8"), ("lips open", "lip-open-ratio 0.8"),
    ("pout", "mouth-pout 0.8"), ("blink", "eye-open-ratio -1"), ("brows up", "eyebrow-direction 0.8"),
    ("look right", "eye-gaze-horizontal 0.8"))]
BACKGROUND_PHOTOS = ["man_beard_curly_01.png", "woman_frontal_01.webp", "man_frontal_01.jpg", "two_women_selfie_01.jpg",
                     "man_big_smile_hands_01.png"]
BACKGROUND_COLUMNS = ["cut out: --processors background_remover",
                      "blue: --processors background_remover --background-remover-fill-color 40 90 200"]


def sheet(photos: list[Path], columns: list[str], row_height: int) -> np.ndarray:
    parser = build_parser()
    rows = []
    for photo in photos:
        cells = [_label(_fit(read_image(photo).frame, row_height), photo.name)]
        for column in columns:
            label, _, flags = column.partition(":")
            args = parser.parse_args(["headless-run", "-t", str(photo), "-o", "unused.png", *shlex.split(flags)])
            with Studio(options_from_args(args)) as studio:
                result = studio.swap_image([], photo)
            cells.append(_label(_fit(over_checkerboard(result.frame, result.alpha), row_height), label.strip()))
        rows.append(np.hstack(cells))
    width = max(row.shape[1] for row in rows)
    return np.vstack([np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0))) for row in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="*", type=Path)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--column", action="append", default=[], help="LABEL: OPTIONS (repeat for more columns)")
    parser.add_argument("--editor-set", action="store_true", help="the face editor's sliders on development faces")
    parser.add_argument("--background-set", action="store_true", help="the background remover on development photos")
    parser.add_argument("--row-height", type=int, default=260)
    args = parser.parse_args(argv)
    photos, columns = list(args.photos), list(args.column)
    if args.editor_set:
        photos, columns = photos or [TESTDATA / name for name in EDITOR_PHOTOS], columns or EDITOR_COLUMNS
    if args.background_set:
        photos, columns = photos or [TESTDATA / name for name in BACKGROUND_PHOTOS], columns or BACKGROUND_COLUMNS
    if not photos or not columns:
        parser.error("give photos and --column settings, or --editor-set / --background-set")
    cv2.imwrite(args.output, sheet(photos, columns, args.row_height))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

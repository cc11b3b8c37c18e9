"""Render before/source/after sheets: one row per (source, target) pair, target | source | result.

    .venv/bin/python examples/contact_sheet.py -o sheet.png SOURCE=TARGET [SOURCE=TARGET ...]
    .venv/bin/python examples/contact_sheet.py -o sheet.png --hard-cases     # the development set's hard cases
    .venv/bin/python examples/contact_sheet.py -o sheet.png --pose-set       # turned, tilted, lowered, raised heads

Options after ``--`` go to the studio as they would on the command line (``-- --face-swapper-morph 60``).
Each picture is scaled to the row's height; the result column shows what `headless-run` would write.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facefusion import Studio  # noqa: E402
from facefusion.analysis.pose import head_angles  # noqa: E402
from facefusion.cli import build_parser, options_from_args  # noqa: E402
from facefusion.errors import StudioError  # noqa: E402
from facefusion.media.image import read_image  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
HARD_CASES = [
    ("man_frontal_01.jpg", "woman_older_sunglasses_on_head_01.jpg"), ("woman_frontal_02.jpg", "man_beard_curly_01.png"),
    ("man_beard_long_hair_01.jpeg", "man_frontal_02.jpg"), ("woman_frontal_03.jpg", "man_big_smile_hands_01.png"),
    ("man_frontal_02.jpg", "man_grimace_01.png"), ("woman_frontal_01.webp", "woman_face_mask_01.png"),
    ("man_frontal_01.jpg", "woman_tilted_01.png"), ("woman_frontal_02.jpg", "woman_tilted_eyes_closed_01.png"),
    ("man_frontal_02.jpg", "woman_looking_up_01.jpeg"), ("woman_frontal_03.jpg", "man_rotated_90_01.jpg"),
    ("man_frontal_01.jpg", "woman_eyes_closed_01.jpeg"), ("woman_frontal_02.jpg", "man_open_mouth_closeup_01.jpg"),
    ("man_frontal_01.jpg", "woman_open_mouth_01.jpg"), ("woman_frontal_03.jpg", "man_closeup_speaking_01.jpg"),
    ("man_frontal_02.jpg", "painting_portrait_01.jpg"), ("woman_frontal_01.webp", "man_bw_moustache_01.jpg"),
    ("woman_frontal_02.jpg", "man_bw_hand_near_chin_01.jpeg"), ("man_frontal_01.jpg", "man_partial_face_01.jpg"),
    ("woman_older_sunglasses_on_head_01.jpg", "woman_frontal_02.jpg"), ("man_beard_curly_01.png", "man_frontal_02.jpg"),
]
"""(source, target) pairs from ../shared/testdata covering the hard cases of its MANIFEST."""
POSE_CASES = [
    ("woman_frontal_02.jpg", "man_three_quarter_01.jpeg"), ("man_frontal_01.jpg", "man_beard_long_hair_01.jpeg"),
    ("woman_frontal_03.jpg", "woman_face_mask_01.png"), ("man_frontal_01.jpg", "group_six_faces_01.jpg"),
    ("woman_frontal_02.jpg", "woman_profile_01.jpeg"), ("man_frontal_02.jpg", "woman_tilted_01.png"),
    ("woman_frontal_01.webp", "woman_tilted_eyes_closed_01.png"), ("man_frontal_01.jpg", "woman_eyes_closed_01.jpeg"),
    ("woman_frontal_03.jpg", "woman_looking_up_01.jpeg"), ("woman_frontal_02.jpg", "man_rotated_90_01.jpg"),
]
"""(source, target) pairs of turned (3/4, about 50°, a group with a face turned about 65°, a near profile),
tilted, lowered and raised heads, each target's faces labelled with their estimated angles."""


def _fit(frame: np.ndarray, height: int) -> np.ndarray:
    scale = height / frame.shape[0]
    return cv2.resize(frame, (max(1, round(frame.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)


def _label(frame: np.ndarray, text: str) -> np.ndarray:
    cv2.putText(frame, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(frame, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return frame


def _with_angles(frame: np.ndarray, studio: Studio) -> np.ndarray:
    """A copy of ``frame`` with each face's estimated yaw/pitch/roll written under it."""
    shown = frame.copy()
    scale = max(1.0, frame.shape[0] / 500)
    for face in studio.analyser.analyse(frame):
        if face.mesh is None:
            continue
        angles = head_angles(face.mesh)
        text = f"y{angles.yaw:.0f} p{angles.pitch:.0f} r{angles.roll:.0f}"
        place = (int(face.bbox[0]), int(min(frame.shape[0] - 4, face.bbox[3] + 18 * scale)))
        cv2.putText(shown, text, place, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0), int(3 * scale), cv2.LINE_AA)
        cv2.putText(shown, text, place, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 255, 255), int(scale), cv2.LINE_AA)
    return shown


def sheet(pairs: list[tuple[Path, Path]], studio: Studio, row_height: int = 260) -> np.ndarray:
    rows = []
    for source, target in pairs:
        target_frame = read_image(str(target)).frame
        try:
            report = studio.swap_image([source], target)
            result, note = report.frame, f"{report.faces_swapped}/{report.faces_found} swapped"
        except StudioError as error:
            result, note = np.zeros_like(target_frame), error.message[:60]
        shown = _with_angles(target_frame, studio)
        cells = [_label(_fit(shown, row_height), target.name), _label(_fit(read_image(str(source)).frame,
                 row_height), source.name), _label(_fit(result, row_height), note)]
        rows.append(np.hstack(cells))
    width = max(row.shape[1] for row in rows)
    return np.vstack([cv2.copyMakeBorder(row, 0, 4, 0, width - row.shape[1], cv2.BORDER_CONSTANT) for row in rows])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    studio_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="*", metavar="SOURCE=TARGET")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--hard-cases", action="store_true", help="the development set's hard cases")
    parser.add_argument("--pose-set", action="store_true", help="the development set's turned, tilted, lowered "
                        "and raised heads")
    parser.add_argument("--row-height", type=int, default=260)
    args = parser.parse_args(own)
    pairs = [(Path(a), Path(b)) for a, b in (item.split("=", 1) for item in args.pairs)]
    if args.hard_cases:
        pairs += [(TESTDATA / a, TESTDATA / b) for a, b in HARD_CASES]
    if args.pose_set:
        pairs += [(TESTDATA / a, TESTDATA / b) for a, b in POSE_CASES]
    if not pairs:
        parser.error("give SOURCE=TARGET pairs, --hard-cases or --pose-set")
    studio_options = options_from_args(build_parser().parse_args(
        ["headless-run", "-t", "x", "-o", "y", "--face-selector-mode", "many", *studio_args]))
    with Studio(studio_options) as studio:
        cv2.imwrite(args.output, sheet(pairs, studio, args.row_height))
    print(f"wrote {args.output} ({len(pairs)} pairs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Identity benchmark: does a swapped face read as the source person, and no longer as the target?

Every ordered pair of different people among the development photos of near-frontal faces (the shared test
folder, or the two pictures installed packages ship when it is absent) is swapped with the embedded engine;
the project's own recogniser (dlib's 128-d descriptor, same-person threshold 0.6) then measures the result's
distance to the source photo and to the target photo. Printed per pair and summed up:

- "as source": distance to the source under 0.6 (the recogniser takes the result for the source person);
- "as target": distance to the target under 0.6 (it still takes it for the target person too);
- the baseline: the source photo's distance to the target photo, before any swap.

Run: ``.venv/bin/python bench/identity.py [--morph N] [--pairs N]``.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))

from facefusion import Options, Studio  # noqa: E402
from facefusion.analysis.analyse import FaceAnalyser  # noqa: E402
from facefusion.analysis.recognise import embedding_distance  # noqa: E402
from facefusion.media.image import read_image  # noqa: E402
from facefusion.types import Embedding, FrameBGR  # noqa: E402
from sample_media import astronaut, grace_hopper  # noqa: E402

SAME_PERSON = 0.6
"""dlib's own threshold: two descriptors nearer than this are taken for one person."""
SHARED = Path(os.environ.get("FACEFUSION_TESTDATA", ROOT.parent / "shared" / "testdata"))
NEAR_FRONTAL = ("man_frontal_01.jpg", "man_frontal_02.jpg", "woman_frontal_01.webp", "woman_frontal_02.jpg",
                "woman_frontal_03.jpg", "man_beard_curly_01.png", "man_grimace_01.png", "woman_open_mouth_01.jpg",
                "man_closeup_speaking_01.jpg", "woman_older_sunglasses_on_head_01.jpg")
"""One photo per person (a person's second photo would pair them with themselves)."""


def photos() -> list[Path]:
    if SHARED.is_dir():
        return [SHARED / name for name in NEAR_FRONTAL if (SHARED / name).exists()]
    return [astronaut(), grace_hopper()]


def embedding(analyser: FaceAnalyser, frame: FrameBGR) -> Embedding | None:
    faces = analyser.analyse(frame)
    if not faces:
        return None
    return analyser.embed(frame, max(faces, key=lambda face: face.width * face.height)).embedding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--morph", type=int, default=None, help="face_swapper_morph (default: the product's)")
    parser.add_argument("--pairs", type=int, default=0, help="stop after this many pairs (0: all)")
    args = parser.parse_args()
    analyser = FaceAnalyser()
    pictures = photos()
    frames = {path: read_image(path).frame for path in pictures}
    embeddings = {path: embedding(analyser, frames[path]) for path in pictures}
    values = {} if args.morph is None else {"face_swapper_morph": args.morph}
    as_source = as_target = total = 0
    with Studio(Options(**values)) as studio:
        for source, target in itertools.permutations(pictures, 2):
            if args.pairs and total >= args.pairs:
                break
            result = studio.swap_image([str(source)], str(target)).frame
            found = embedding(analyser, result)
            source_embedding, target_embedding = embeddings[source], embeddings[target]
            if found is None or source_embedding is None or target_embedding is None:
                print(f"{source.stem:>36} -> {target.stem:<36} no face in the result")
                total += 1
                continue
            to_source = embedding_distance(found, source_embedding)
            to_target = embedding_distance(found, target_embedding)
            before = embedding_distance(source_embedding, target_embedding)
            total += 1
            as_source += to_source < SAME_PERSON
            as_target += to_target < SAME_PERSON
            flags = ("S" if to_source < SAME_PERSON else "-") + ("T" if to_target < SAME_PERSON else "-")
            print(f"{source.stem:>36} -> {target.stem:<36} to source {to_source:.3f}  to target {to_target:.3f}  "
                  f"apart before {before:.3f}  {flags}")
    print(f"\n{total} pairs: {as_source} read as the source ({as_source / max(total, 1):.0%}), "
          f"{as_target} still read as the target ({as_target / max(total, 1):.0%})")


if __name__ == "__main__":
    main()

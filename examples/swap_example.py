"""The main job until the web UI lands: swap a face between two bundled sample photos.

Run it with ``make run`` (or ``.venv/bin/python examples/swap_example.py``). It writes
``output/example_swap.jpg`` and a before/after strip ``output/example_before_after.jpg``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import facefusion  # noqa: E402
from facefusion.media.image import read_image, write_image  # noqa: E402
from sample_media import astronaut, grace_hopper  # noqa: E402


def main() -> None:
    output = Path("output")
    output.mkdir(exist_ok=True)
    source, target = astronaut(), grace_hopper()
    result = facefusion.swap_image(source, target, output / "example_swap.jpg", face_selector_mode="many")
    before = read_image(target).frame
    write_image(output / "example_before_after.jpg", np.hstack([before, result]))
    print(f"swapped the face of {source.name} onto {target.name}: see {output / 'example_swap.jpg'} "
          f"and {output / 'example_before_after.jpg'}")


if __name__ == "__main__":
    main()

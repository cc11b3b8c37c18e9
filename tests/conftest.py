"""Shared fixtures.

Real photos come from ``../shared/testdata`` (see its MANIFEST.md) when it is beside the checkout, or
from FACEFUSION_TESTDATA. Without it, tests use photos that installed packages ship (scikit-image's
astronaut, matplotlib's Grace Hopper) and images generated here; only tests that truly need a
particular real photo skip, with the reason.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: see facefusion/__init__.py
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

from facefusion import Options, Studio  # noqa: E402
from facefusion.analysis.analyse import FaceAnalyser  # noqa: E402
from facefusion.media.image import read_image, write_image  # noqa: E402
from facefusion.types import Face  # noqa: E402
from sample_media import astronaut, grace_hopper  # noqa: E402

SHARED = Path(os.environ.get("FACEFUSION_TESTDATA", ROOT.parent / "shared" / "testdata"))
ARTIFACTS = ROOT / "test-artifacts"


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"needs the real test file {name} from ../shared/testdata")
    return path


def has_shared() -> bool:
    return (SHARED / "MANIFEST.md").is_file()


@pytest.fixture(scope="session")
def analyser() -> FaceAnalyser:
    return FaceAnalyser()


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory):
    """One local Ray cluster (two CPU slots) for all of a test process's Ray tests: they all run on one test
    process (xdist_group "ray"), and each test's own actors are gone before the next test's start."""
    from ray_cluster import ray_cluster

    with ray_cluster(tmp_path_factory.mktemp("ray")) as cluster:
        yield cluster


class RayPools:
    """The Ray tests' pool of two actors on the test process's cluster, made once and kept from test to test
    (an actor takes seconds to start, half a minute on a busy machine). A test that needs the cluster's two
    slots for actors of its own closes it first; the next test that wants it makes it again."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.pool = None

    def get(self):
        if self.pool is None:
            from facefusion.workers.ray_pool import RayPool

            self.pool = RayPool(self.cluster.address, actors=2)
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            import ray

            self.pool.close()
            ray.shutdown()
            self.pool = None


@pytest.fixture(scope="session")
def ray_pools(ray_head):
    pools = RayPools(ray_head)
    yield pools
    pools.close()


@pytest.fixture(scope="session")
def studio_many():
    with Studio(Options(face_selector_mode="many")) as studio:
        yield studio


def largest(faces: list[Face]) -> Face:
    return max(faces, key=lambda face: face.width * face.height)


def embedding_of(analyser: FaceAnalyser, frame: np.ndarray) -> np.ndarray:
    faces = analyser.analyse(frame)
    assert faces, "no face found where one was expected"
    return analyser.embed(frame, largest(faces)).embedding


def _face_crop(path: Path, analyser: FaceAnalyser, side: int) -> np.ndarray:
    frame = read_image(path).frame
    face = largest(analyser.analyse(frame))
    cx, cy = face.centre
    half = face.size * 1.1
    x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
    crop = frame[y1:int(cy + half), x1:int(cx + half)]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def generated(tmp_path_factory, analyser) -> dict[str, Path]:
    """Images made from the package photos: known face positions, sizes and contents."""
    folder = tmp_path_factory.mktemp("generated")
    rng = np.random.default_rng(7)
    made: dict[str, Path] = {"astronaut": astronaut(), "grace_hopper": grace_hopper()}

    canvas = np.full((720, 1280, 3), 120, np.uint8)
    canvas[:] = cv2.GaussianBlur(rng.integers(60, 200, (720, 1280, 3), dtype=np.uint8), (0, 0), 9)
    two = canvas.copy()
    two[180:540, 160:520] = _face_crop(astronaut(), analyser, 360)
    two[180:540, 760:1120] = _face_crop(grace_hopper(), analyser, 360)
    made["two_people"] = write_image(folder / "two_people.png", two)

    small = canvas.copy()
    face = _face_crop(astronaut(), analyser, 96)  # the face itself is about 44 px wide in this crop
    small[400:496, 900:996] = face
    made["small_face"] = write_image(folder / "small_face.png", small)

    landscape = canvas.copy()
    cv2.rectangle(landscape, (0, 400), (1280, 720), (40, 120, 40), -1)
    cv2.circle(landscape, (1000, 150), 80, (0, 220, 255), -1)
    made["no_face"] = write_image(folder / "no_face.png", landscape)
    return made


@pytest.fixture(scope="session")
def frontal_pairs(generated) -> list[tuple[Path, Path]]:
    """(source, target) pairs of frontal faces of different people."""
    pairs = [(generated["astronaut"], generated["grace_hopper"]), (generated["grace_hopper"], generated["astronaut"])]
    if has_shared():
        names = [("man_frontal_01.jpg", "man_frontal_02.jpg"), ("woman_frontal_02.jpg", "man_frontal_01.jpg"),
                 ("woman_frontal_03.jpg", "woman_frontal_01.webp"), ("man_frontal_02.jpg", "woman_frontal_03.jpg"),
                 ("woman_frontal_01.webp", "woman_frontal_02.jpg")]
        pairs += [(SHARED / a, SHARED / b) for a, b in names]
    return pairs


def save_artifact(name: str, *frames: np.ndarray) -> Path:
    """Side-by-side strip for people to look at after a run (not asserted)."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = max(frame.shape[0] for frame in frames)
    padded = [cv2.copyMakeBorder(frame, 0, height - frame.shape[0], 0, 0, cv2.BORDER_CONSTANT) for frame in frames]
    path = ARTIFACTS / name
    cv2.imwrite(str(path), np.hstack(padded))
    return path

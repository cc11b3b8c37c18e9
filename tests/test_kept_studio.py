"""Long-lived workers keep their studios between jobs (the models load once): a kept studio gives the
fresh one's result, a worker's studios share their model sessions, and the protected people are read
again at each job."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from facefusion import Options
from facefusion.errors import RefusedError
from facefusion.media.image import read_image
from facefusion.pipeline import Job, run_to_end
from facefusion.safety.policy import SafetyPolicy
from facefusion.workers.studios import SessionPools, StudioCache


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_a_kept_studio_gives_the_fresh_result_and_keeps_its_models(tmp_path, generated):
    studios = StudioCache()
    options = Options(output_watermark=False)  # each output's mark differs; the swap itself must not
    job = Job(sources=(str(generated["astronaut"]),), target=str(generated["grace_hopper"]),
              output=str(tmp_path / "fresh.png"))
    run_to_end(job, options)
    kept = studios.get(options, job.safety)
    for number in range(2):
        result = run_to_end(Job(sources=job.sources, target=job.target, output=str(tmp_path / f"kept{number}.png")),
                            options, studio=kept)
        assert result.faces_swapped == 1
        kept_frame = read_image(tmp_path / f"kept{number}.png").frame
        assert np.array_equal(kept_frame, read_image(tmp_path / "fresh.png").frame)
    assert studios.get(options, job.safety) is kept  # the same models for the next job
    with pytest.raises(ValueError, match="kept studio must have the run's options"):
        run_to_end(job, Options(face_swapper_morph=50), studio=kept)
    studios.close()


def test_a_workers_studios_share_sessions_and_the_oldest_is_closed(generated):
    pools = SessionPools()
    first, second = StudioCache(pools, size=2), StudioCache(pools)
    one, other, third = Options(), Options(face_swapper_morph=40), Options(face_selector_mode="many")
    kept = first.get(one, SafetyPolicy())
    assert first.get(other, SafetyPolicy()).pool is kept.pool  # same execution settings: the same sessions
    assert second.get(one, SafetyPolicy()).pool is kept.pool and second.get(one, SafetyPolicy()) is not kept
    first.get(third, SafetyPolicy())  # past two: the least recently used goes
    assert first.get(one, SafetyPolicy()) is not kept
    first.close()
    second.close()


def test_a_kept_studio_reads_the_protected_people_again_at_each_job(tmp_path, generated):
    protected = tmp_path / "protected"
    protected.mkdir()
    shutil.copy(generated["grace_hopper"], protected / "Grace Hopper.png")
    safety = SafetyPolicy(protected_faces=str(protected))
    kept = StudioCache().get(Options(), safety)
    onto_grace = Job(sources=(str(generated["astronaut"]),), target=str(generated["grace_hopper"]),
                     output=str(tmp_path / "refused.png"), safety=safety)
    with pytest.raises(RefusedError, match="Grace Hopper"):
        run_to_end(onto_grace, Options(), studio=kept)
    onto_astronaut = Job(sources=(str(generated["astronaut"]),), target=str(generated["astronaut"]),
                         output=str(tmp_path / "allowed.png"), safety=safety)
    assert run_to_end(onto_astronaut, Options(), studio=kept).faces_swapped == 1
    shutil.copy(generated["astronaut"], protected / "Eileen Collins.png")  # the operator adds someone
    with pytest.raises(RefusedError, match="Eileen Collins"):
        run_to_end(onto_astronaut, Options(), studio=kept)
    kept.close()

"""Job benchmark: image jobs one after another as a job API worker runs them, with a fresh studio per job
(the models load at each job) and with a kept studio (``workers.studios``: they load once).

Run: ``.venv/bin/python bench/jobs.py [--jobs 12] [--load 40]``. Both ways run the same jobs (the two sample
portraits, each swapped onto the other, alternating) in this process, one after the other; the figure is the
median seconds a job after the first, and the first job of each way is printed apart (the kept studio's first
job pays the load). The embedded engine only: the neural models' weights cannot be fetched here, and
their load (hundreds of MB each, plus a CUDA context on a GPU) is what a kept studio saves most.

Then, under load (``--load N``, 0 to skip): a real ``facefusion serve`` on 127.0.0.1 gets N image jobs sent at
once by 4 callers, twice: once with every callback going to a receiver that answers at once (the baseline),
once with one caller's callbacks going to a receiver that sleeps 60 s and another's to one that drips a byte
every 2 s. It prints, for both runs, the seconds until every job was done, each caller's slowest job, the
callbacks delivered, and the server's memory (RSS) once warmed up and at the end.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))

from facefusion import Options  # noqa: E402
from facefusion.pipeline import Job, run_to_end  # noqa: E402
from facefusion.safety.policy import SafetyPolicy  # noqa: E402
from facefusion.workers.studios import StudioCache  # noqa: E402
from sample_media import astronaut, grace_hopper  # noqa: E402


def jobs(count: int, folder: Path) -> list[Job]:
    pairs = [(astronaut(), grace_hopper()), (grace_hopper(), astronaut())]
    return [Job(sources=(str(pairs[number % 2][0]),), target=str(pairs[number % 2][1]),
                output=str(folder / f"job{number}.jpg")) for number in range(count)]


def timed(run_jobs: list[Job], options: Options, studios: StudioCache | None) -> list[float]:
    seconds = []
    for job in run_jobs:
        start = time.perf_counter()
        studio = studios.get(options, SafetyPolicy()) if studios is not None else None
        run_to_end(job, options, studio=studio)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--load", type=int, default=40, help="jobs sent at once to a job API (0: skip)")
    arguments = parser.parse_args()
    options = Options()
    with tempfile.TemporaryDirectory() as folder:
        work = jobs(arguments.jobs, Path(folder))
        timed(work[:1], options, None)  # files into the page cache, libraries imported: neither way pays it
        fresh = timed(work, options, None)
        studios = StudioCache()
        kept = timed(work, options, studios)
        studios.close()
    print(f"{arguments.jobs} image jobs (512 px portraits, embedded engine), seconds a job:")
    print(f"  {'':30}{'first':>10}{'median after':>15}")
    print(f"  {'fresh studio per job':30}{fresh[0]:10.3f}{statistics.median(fresh[1:]):15.3f}")
    print(f"  {'kept studio':30}{kept[0]:10.3f}{statistics.median(kept[1:]):15.3f}")
    saved = statistics.median(fresh[1:]) - statistics.median(kept[1:])
    print(f"  kept saves {saved * 1000:.0f} ms a job ({saved / statistics.median(fresh[1:]) * 100:.0f} %)")
    if arguments.load:
        sys.path.insert(0, str(ROOT / "bench"))
        from jobs_load import under_load

        under_load(arguments.load)


if __name__ == "__main__":
    main()

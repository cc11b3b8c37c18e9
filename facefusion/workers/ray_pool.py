"""Jobs on a Ray cluster (``facefusion serve --ray-address ADDRESS``): long-lived actors that keep their models.

Each actor holds a Studio per set of options (one actor per GPU, or one per CPU slot on a CPU cluster). A
video job is planned once here (probe, identities, content checks of the target, the resumable parts
folder): its source identity is computed once and shared with every actor through Ray's object store.
Its segments then go to the actors at once; each actor renders whole segments (``render_segment``: the
frames the single-process run gives) and sends back the encoded file, which lands in the parts folder;
the usual assembly joins them without re-encoding. A segment whose actor dies is given to another (its
actor restarts and loads its models again); a failing frame still only marks that frame. An image job
runs on one actor. Signing (C2PA) and the audit log stay here, beside the output.

Actors get the job's input files through the object store (see staging): a node needs no view of the
service's folders, only the models.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..durable import write_atomically
from ..engine import Studio
from ..errors import InvalidInputError, StoppedError, StudioError
from ..frames import TurnedAway
from ..ledger import SegmentLedger
from ..media.files import is_image_path
from ..media.opencv_threads import single_threaded_opencv
from ..options import Options
from ..parts import WorkFolder
from ..pipeline import run_to_end, signed_and_audited, studio_for
from ..run_types import Job, Progress, RunResult
from ..safety.policy import SafetyPolicy
from ..video_job import SegmentDone, render_segment, run_report
from ..video_plan import VideoPlan, engine_description, fingerprint, plan_video, video_layout
from .staging import InputCache, StagedFile, StagedInputs, folder_stamp, stage_file, stage_folder
from .studios import StudioCache

logger = logging.getLogger("facefusion")

SEGMENT_ATTEMPTS = 3
"""Times one segment is tried (on another actor after its actor died) before the job fails."""
ACTOR_RESTART_SECONDS = 180
"""How long a dead actor may take to come back (a busy node restarts it slowly) before the job fails."""


class SegmentActor:
    """One Ray actor: Studios kept per options, segments and images rendered on request."""

    def __init__(self) -> None:
        self._studios = StudioCache()
        self._inputs = InputCache()

    def pid(self) -> int:
        return os.getpid()

    def staged_paths(self) -> list[str]:
        """The files this actor's node holds in its input cache (for tests and diagnosis)."""
        folder = self._inputs.folder
        return sorted(str(path) for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else []

    def render(self, job: Job, staged: StagedInputs, options: Options, video: VideoPlan, number: int,
               watermark_id: int | None) -> tuple[bytes, SegmentDone]:
        """Segment ``number`` of the run ``video`` plans (made once by the driver: nothing is probed here)."""
        with tempfile.TemporaryDirectory() as folder, single_threaded_opencv():
            local = self._inputs.local_job(job, staged, _fetch, Path(folder) / f"output{Path(str(job.output)).suffix}")
            studio = self._studios.get(options, local.safety)
            path = Path(folder) / f"segment_{number:05d}.mkv"
            done = render_segment(studio, video.on(local.target), local, number, path, watermark_id)
            return path.read_bytes(), done

    def image(self, job: Job, staged: StagedInputs, options: Options) -> tuple[bytes, RunResult]:
        with tempfile.TemporaryDirectory() as folder:
            output = Path(folder) / f"output{Path(job.output or 'output.png').suffix}"
            local = self._inputs.local_job(job, staged, _fetch, output)
            result = run_to_end(local, options, studio=self._studios.get(options, local.safety))
            data = output.read_bytes()
        result.frame, result.output_path = None, None
        return data, result


def _fetch(reference: Any) -> bytes:
    """A staged file's bytes, inside an actor."""
    import ray

    return ray.get(reference)


def _worker_policy(policy: SafetyPolicy) -> SafetyPolicy:
    """What actors enforce: the refusals; signing and the audit log are the driver's."""
    return dataclasses.replace(policy, audit_log=None, c2pa_cert=None, c2pa_key=None)


def _cause(error: BaseException) -> BaseException:
    """A task's own exception (a StudioError keeps its message and exit code), not Ray's wrapper."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


class ActorRoster:
    """The actors of one video job: those free for a segment, and those Ray is restarting (asked for their pid
    until one answers, so that no segment is sent to an actor that is not back yet)."""

    def __init__(self, ray: Any, actors: list[Any]) -> None:
        self._ray = ray
        self.idle = list(actors)
        self.pings: dict[Any, tuple[Any, float]] = {}
        """A pending pid request -> (its actor, when the actor died)."""

    def restarting(self, actor: Any, since: float | None = None) -> None:
        self.pings[actor.pid.remote()] = (actor, time.monotonic() if since is None else since)

    def answered(self, reference: Any) -> bool:
        """Whether ``reference`` was a ping: the actor is back (idle again) or is asked again."""
        if reference not in self.pings:
            return False
        actor, since = self.pings.pop(reference)
        try:
            self._ray.get(reference)
        except self._ray.exceptions.RayActorError:
            if time.monotonic() - since > ACTOR_RESTART_SECONDS:
                raise StudioError(f"an actor of the cluster did not come back within {ACTOR_RESTART_SECONDS} s "
                                  "of dying; check the cluster's nodes") from None
            time.sleep(0.2)
            self.restarting(actor, since)
            return True
        self.idle.append(actor)
        return True


class RayPool:
    """Actors on the cluster at ``address``; ``run`` has the pipeline's shape (progress, then the result)."""

    def __init__(self, address: str, actors: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise InvalidInputError("--ray-address needs Ray, an optional part: run `make cluster`") from None
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if not ray.is_initialized():
            try:
                ray.init(address=address, namespace="facefusion-studio", log_to_driver=False,
                         configure_logging=False)
            except ConnectionError as error:
                raise InvalidInputError(f"--ray-address {address}: no Ray cluster answers there ({error})") from None
        self._ray = ray
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = actors or gpus or max(1, int(resources.get("CPU", 1)))
        remote = ray.remote(max_restarts=-1, max_task_retries=0)(SegmentActor)
        # One per GPU (its memory fraction is an option of the run), else one per CPU slot.
        # One BLAS thread, as in the studio's own processes: a multi-threaded BLAS rounds sums in the order its
        # threads finish, and a segment would then differ from the same segment made anywhere else.
        environment = {"env_vars": {"OPENBLAS_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}}
        self.actors = [remote.options(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1,
                                      runtime_env=environment).remote() for _ in range(count)]
        ray.get([actor.pid.remote() for actor in self.actors])  # started, models not yet loaded
        self._lock = threading.Lock()
        self._protected: tuple[Any, tuple[tuple[str, StagedFile], ...]] | None = None
        """The protected people's folder as staged last: (its stamp, its files), staged again when it changes."""
        logger.info("Ray cluster at %s: %d actor(s) (%d GPU(s))", address, count, gpus)

    def run(self, job: Job, options: Options, stop: threading.Event | None = None,
            studio: Studio | None = None) -> Iterator[Progress | RunResult]:
        """The pipeline's ``run`` on the cluster; ``studio``: the calling worker's kept one, which plans videos
        here (the source identity, the content checks of the target) without loading its models again."""
        stop = stop or threading.Event()
        events = (self._image(job, options) if is_image_path(job.target)
                  else self._video(job, options, stop, studio))
        yield from signed_and_audited(job, events)

    def _stage(self, job: Job) -> StagedInputs:
        """The job's files into the object store, for actors on any node."""
        put = self._ray.put
        protected: tuple[tuple[str, StagedFile], ...] = ()
        folder = Path(job.safety.protected_faces).expanduser().resolve() if job.safety.protected_faces else None
        if folder is not None and folder.is_dir():
            stamp = (str(folder), folder_stamp(folder))
            with self._lock:
                if self._protected is None or self._protected[0] != stamp:
                    self._protected = (stamp, stage_folder(put, folder))
                protected = self._protected[1]
        return StagedInputs(target=stage_file(put, job.target),
                            sources=tuple(stage_file(put, source) for source in job.sources),
                            reference_face=stage_file(put, job.reference_face_path) if job.reference_face_path
                            else None, protected=protected)

    def _ready(self, actor: Any) -> Any:
        """``actor`` once it answers (Ray may still be restarting it after an earlier job's crash)."""
        deadline = time.monotonic() + ACTOR_RESTART_SECONDS
        while True:
            try:
                self._ray.get(actor.pid.remote(), timeout=ACTOR_RESTART_SECONDS)
                return actor
            except self._ray.exceptions.RayActorError:
                if time.monotonic() > deadline:
                    raise StudioError(f"the cluster's actor did not come back within {ACTOR_RESTART_SECONDS} s; "
                                      "check the cluster's nodes") from None
                time.sleep(0.5)

    def _get(self, reference: Any) -> Any:
        try:
            return self._ray.get(reference)
        except self._ray.exceptions.RayTaskError as error:
            raise _cause(error) from None

    def _image(self, job: Job, options: Options) -> Iterator[Progress | RunResult]:
        if job.output is None:
            raise InvalidInputError("an image job needs an output path")
        worker_job = dataclasses.replace(job, safety=_worker_policy(job.safety))
        data, result = self._get(self._ready(self.actors[0]).image.remote(worker_job, self._stage(job), options))
        write_atomically(Path(job.output), data)
        result.output_path = Path(job.output)
        yield Progress(frame=1, total=1, fps=1 / max(result.seconds, 1e-6), eta=0.0)
        yield result

    def _video(self, job: Job, options: Options, stop: threading.Event, kept: Studio | None
               ) -> Iterator[Progress | RunResult]:
        started = time.perf_counter()
        layout = video_layout(job, options)
        warnings = list(layout.warnings)
        with studio_for(job, options, kept) as studio:
            video = plan_video(studio, job, layout)
            engine, source_type = studio.engine, studio.digital_source_type
            parts = WorkFolder(layout.output, fingerprint(job, options, layout.info), job.resume, job.watermark_id)
            try:
                ledger = SegmentLedger(parts, layout.total, job.segment_frames)
                watermark_id = parts.watermark_id if options.output_watermark else None
                segments: list[SegmentDone] = []
                with ledger.kept_on_failure():
                    yield from self._segments(job, options, video, ledger, watermark_id, stop, segments)
                    # The local run's warnings, from what the actors' trackers found in this run's segments.
                    turned = TurnedAway()
                    for done in segments:
                        turned = turned.joined(done.turned)
                    warnings.extend(run_report(studio, video, max((done.most_faces for done in segments), default=0),
                                               sum(done.unfitted for done in segments), turned, ledger))
                    ledger.join(layout, options, engine_description(studio, watermark_id), warnings)
            finally:
                parts.release()
        yield ledger.result(layout, started, engine, source_type, warnings, options.output_watermark)

    def _segments(self, job: Job, options: Options, video: VideoPlan, ledger: SegmentLedger,
                  watermark_id: int | None, stop: threading.Event, segments: list[SegmentDone]) -> Iterator[Progress]:
        """Every unfinished segment on the actors, each recorded in ``ledger`` (and kept in ``segments``) as it
        lands; progress after each."""
        ray = self._ray
        worker_job = dataclasses.replace(job, safety=_worker_policy(job.safety))
        plan_reference = ray.put(video)  # the plan (the identity, computed once) for every actor
        staged = self._stage(job)
        waiting = list(range(ledger.resumed, ledger.count))
        attempts = {number: 0 for number in waiting}
        running: dict[Any, tuple[int, Any]] = {}
        actors = ActorRoster(ray, self.actors)
        first, loop_start = ledger.done, time.perf_counter()
        while waiting or running:
            if stop.is_set():
                for reference in running:
                    ray.cancel(reference, force=True)
                raise StoppedError("stopped by the user; run the same job again to continue")
            while waiting and actors.idle:
                number, actor = waiting.pop(0), actors.idle.pop(0)
                attempts[number] += 1
                reference = actor.render.remote(worker_job, staged, options, plan_reference, number, watermark_id)
                running[reference] = (number, actor)
            ready, _ = ray.wait([*running, *actors.pings], num_returns=1, timeout=0.5)
            for reference in ready:
                if actors.answered(reference):
                    continue
                number, actor = running.pop(reference)
                try:
                    data, done = ray.get(reference)
                except ray.exceptions.RayActorError:
                    if attempts[number] >= SEGMENT_ATTEMPTS:
                        raise StudioError(f"segment {number} failed on {SEGMENT_ATTEMPTS} actors; the "
                                          "cluster's workers keep dying (memory?)") from None
                    logger.warning("the actor rendering segment %d died; the segment goes to another", number)
                    waiting.insert(0, number)
                    actors.restarting(actor)  # Ray restarts it (its models load again); used once it answers
                    continue
                except ray.exceptions.RayTaskError as error:
                    raise _cause(error) from None
                actors.idle.append(actor)
                write_atomically(ledger.segment(number), data)
                ledger.record(number, done.frames, done.swaps, done.failed)
                segments.append(done)
                fps = (ledger.done - first) / max(time.perf_counter() - loop_start, 1e-6)
                yield Progress(frame=ledger.done, total=ledger.total, fps=fps,
                               eta=(ledger.total - ledger.done) / max(fps, 1e-6))

    def close(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor)
        self.actors = []

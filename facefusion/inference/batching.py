"""One model, many threads: runs that arrive together are merged into one batched model run.

The video pipeline draws several frames at once on worker threads. When a model's first input has a
free batch dimension, the faces (or tiles) that those threads send while the model is busy wait and go
into the next run together: the GPU sees batches without the pipeline being restructured around them,
and no run ever waits for a batch to fill (what is pending when the model frees up is what runs).
Models with a fixed batch of 1 (inswapper's published file, for one) run row by row.

Callers always pass every row they have (``feed`` arrays with a leading batch dimension) and get the
outputs for exactly those rows back, whatever the model allows.

Outputs are checked for NaN and infinity: half-precision files are known to give them on some GPUs.
When the full-precision file of the same model is at hand (``fallback``), the batcher switches to it
for good and says so; otherwise the run fails with a message naming the file to use instead.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelOutputError

logger = logging.getLogger("facefusion")

Feed = dict[str, np.ndarray]


@dataclass(eq=False)
class _Request:
    feed: Feed
    rows: int
    outputs: list[np.ndarray] | None = None
    error: BaseException | None = None
    done: bool = False


def _has_rows(shape: list[Any]) -> bool:
    """Whether an input carries one row per face or tile: an image or embedding batch (rank 2 or more).
    A rank-1 input (CodeFormer's weight) is one setting for the whole run, never split or stacked."""
    return len(shape) >= 2


def _free_batch(shape: list[Any]) -> bool:
    return _has_rows(shape) and not (isinstance(shape[0], int) and shape[0] > 0)


_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def _input_types(session: Any) -> dict[str, Any]:
    """Floating-point inputs and the numpy type each wants."""
    return {item.name: _ONNX_TYPES[item.type] for item in session.get_inputs()
            if getattr(item, "type", None) in _ONNX_TYPES}


@dataclass
class BatchStats:
    runs: int = 0
    rows: int = 0

    @property
    def mean_batch(self) -> float:
        return self.rows / self.runs if self.runs else 0.0


class BatchedSession:
    """Wraps an onnxruntime session; thread-safe. ``max_rows`` caps one run's batch (memory)."""

    def __init__(self, session: Any, max_rows: int = 8, name: str = "model",
                 fallback: tuple[Path, Callable[[], Any]] | None = None) -> None:
        """``fallback``: the full-precision file of a half-precision model and how to open it."""
        self.session = session
        self.name = name
        self.fallback = fallback
        self.warnings: list[str] = []
        self._run_lock = threading.Lock()
        self.max_rows = max(1, max_rows)
        self.row_inputs = {item.name for item in session.get_inputs() if _has_rows(item.shape)}
        self.batched_inputs = {item.name for item in session.get_inputs() if _free_batch(item.shape)}
        self._input_types = _input_types(session)
        self.stats = BatchStats()
        self._condition = threading.Condition()
        self._pending: list[_Request] = []
        self._leading = False

    @property
    def batchable(self) -> bool:
        return bool(self.batched_inputs)

    def get_inputs(self) -> Any:
        return self.session.get_inputs()

    def run(self, feed: Feed, run_options: Any = None) -> list[np.ndarray]:
        """The model's outputs for the rows of ``feed`` (its batched inputs all have the same rows).
        ``run_options`` (onnxruntime's, e.g. from ``stoppable``): this run alone, not shared with other
        threads' rows, so that ending it ends no one else's."""
        if run_options is not None:
            with self._condition:
                self.stats.runs += 1
            return self._checked_run(feed, run_options)
        carriers = [name for name in feed if name in self.row_inputs] or list(feed)
        rows = max(len(feed[name]) for name in carriers)
        if not self.batchable:
            return self._row_by_row(feed, rows)
        request = _Request(feed, rows)
        with self._condition:
            self._pending.append(request)
            while self._leading and not request.done:
                self._condition.wait()
            if not request.done:
                self._leading = True
        if not request.done:
            self._lead(request)
        if request.error is not None:
            raise request.error
        assert request.outputs is not None
        return request.outputs

    def _row_by_row(self, feed: Feed, rows: int) -> list[np.ndarray]:
        # Inputs with one value for all rows (CodeFormer's weight) are passed as they are.
        results = [self._checked_run({name: value[row:row + 1] if name in self.row_inputs else value
                                      for name, value in feed.items()})
                   for row in range(rows)]
        with self._condition:
            self.stats.runs += rows
            self.stats.rows += rows
        return [np.concatenate(parts) for parts in zip(*results)]

    def _lead(self, own: _Request) -> None:
        """Run batches of what is pending (oldest first) until this thread's own request is served,
        then hand the lead to a waiting thread."""
        try:
            while not own.done:
                with self._condition:
                    batch = self._take()
                self._execute(batch)
        finally:
            with self._condition:
                self._leading = False
                self._condition.notify_all()

    def _checked_run(self, feed: Feed, run_options: Any = None) -> list[np.ndarray]:
        session = self.session
        # Callers prepare float32; half-precision files want float16 in and give it out.
        feed = {name: value.astype(self._input_types[name], copy=False) if name in self._input_types else value
                for name, value in feed.items()}
        outputs = [output.astype(np.float32) if output.dtype == np.float16 else output
                   for output in (session.run(None, feed) if run_options is None else
                                  session.run(None, feed, run_options))]
        if all(np.isfinite(output).all() for output in outputs if np.issubdtype(output.dtype, np.floating)):
            return outputs
        with self._run_lock:
            if self.session is not session:  # another thread has already switched to the fp32 file
                return self._checked_run(feed, run_options)
            if self.fallback is None:
                raise ModelOutputError(
                    f"{self.name} returned values that are not numbers (NaN/inf); half-precision (fp16) files do this "
                    "on some GPUs: use the full-precision model instead")
            path, open_session = self.fallback
            self.fallback = None
            message = (f"{self.name} returned values that are not numbers (NaN/inf), as fp16 files do on some GPUs; "
                       f"using {path.name} from now on")
            logger.warning(message)
            self.warnings.append(message)
            self.session = open_session()
        return self._checked_run(feed, run_options)

    def _take(self) -> list[_Request]:
        """The oldest request and those after it that can share its run: same fixed inputs, same
        row shape, within ``max_rows``."""
        first = self._pending[0]
        batch, rows = [first], first.rows
        for request in self._pending[1:]:
            if rows + request.rows > self.max_rows:
                break
            if self._compatible(first.feed, request.feed):
                batch.append(request)
                rows += request.rows
        for request in batch:
            self._pending.remove(request)
        return batch

    def _compatible(self, a: Feed, b: Feed) -> bool:
        for name, value in a.items():
            other = b[name]
            if name in self.batched_inputs:
                if value.shape[1:] != other.shape[1:] or value.dtype != other.dtype:
                    return False
            elif value.shape != other.shape or not np.array_equal(value, other):
                return False
        return True

    def _execute(self, batch: list[_Request]) -> None:
        """Run the batch; every request in it gets its rows or the error (nobody is left waiting)."""
        first = batch[0].feed
        total = sum(request.rows for request in batch)
        outputs: list[np.ndarray] = []
        error: BaseException | None = None
        try:
            feed = {name: (np.concatenate([request.feed[name] for request in batch]) if name in self.batched_inputs
                           else value) for name, value in first.items()}
            outputs = self._checked_run(feed)
        except BaseException as raised:  # noqa: BLE001 - handed to every caller in the batch
            error = raised
        with self._condition:
            start = 0
            for request in batch:
                if error is None:
                    request.outputs = [output[start:start + request.rows] if len(output) == total else output
                                       for output in outputs]
                request.error, request.done = error, True
                start += request.rows
            self.stats.runs += 1
            self.stats.rows += total
            self._condition.notify_all()


@contextlib.contextmanager
def stoppable(stop: threading.Event | None) -> Iterator[Any]:
    """onnxruntime run options that end a run in progress soon after ``stop`` is set (None without a
    ``stop``): a tile of a large model may take a minute on a CPU, too long to wait for between tiles. The
    run then raises; the caller turns that into StoppedError."""
    if stop is None:
        yield None
        return
    import onnxruntime

    options = onnxruntime.RunOptions()
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(0.1):
            if stop.is_set():
                options.terminate = True
                return

    watcher = threading.Thread(target=watch, name="run-stop-watch", daemon=True)
    watcher.start()
    try:
        yield options
    finally:
        finished.set()
        watcher.join()

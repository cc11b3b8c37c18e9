"""Model runs from several threads merged into batches (facefusion.inference.batching)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from facefusion.inference.batching import BatchedSession


@dataclass
class FakeInput:
    name: str
    shape: list


class SlowDoubler:
    """Session-shaped: output = input * 2 + weight; each run takes a while, so callers pile up."""

    def __init__(self, batch: object = "batch", seconds: float = 0.05) -> None:
        self.inputs = [FakeInput("input", [batch, 4]), FakeInput("weight", [1])]
        self.seconds = seconds
        self.batches: list[int] = []
        self._running = threading.Lock()

    def get_inputs(self) -> list[FakeInput]:
        return self.inputs

    def run(self, _names: object, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        assert self._running.acquire(blocking=False), "the batcher must not run one model twice at once"
        try:
            if isinstance(self.inputs[0].shape[0], int):
                assert len(feed["input"]) == 1, "a fixed-batch model got several rows"
            self.batches.append(len(feed["input"]))
            time.sleep(self.seconds)
            return [feed["input"] * 2 + feed["weight"][0]]
        finally:
            self._running.release()


def _call_from_threads(session: BatchedSession, feeds: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    results: list = [None] * len(feeds)
    errors: list = []

    def call(index: int) -> None:
        try:
            results[index] = session.run(feeds[index])[0]
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=call, args=(index,)) for index in range(len(feeds))]
    for thread in threads:
        thread.start()
        time.sleep(0.002)
    for thread in threads:
        thread.join(timeout=10)
    if errors:
        raise errors[0]
    return results


def _feed(value: float, rows: int = 1, weight: float = 0.0) -> dict[str, np.ndarray]:
    return {"input": np.full((rows, 4), value, np.float32), "weight": np.array([weight], np.float32)}


def test_concurrent_calls_share_runs_and_each_gets_its_own_rows():
    model = SlowDoubler()
    session = BatchedSession(model, max_rows=8)
    feeds = [_feed(index, rows=1 + index % 2) for index in range(12)]
    results = _call_from_threads(session, feeds)
    for index, result in enumerate(results):
        assert result.shape == (1 + index % 2, 4)
        assert np.all(result == index * 2), f"call {index} got another call's rows"
    assert sum(model.batches) == sum(len(feed["input"]) for feed in feeds)
    assert len(model.batches) < len(feeds), "no two calls were merged"
    assert max(model.batches) <= 8
    assert session.stats.mean_batch > 1


def test_inputs_shared_by_all_rows_must_match_to_share_a_run():
    model = SlowDoubler()
    session = BatchedSession(model)
    feeds = [_feed(1.0, weight=index % 2) for index in range(8)]
    results = _call_from_threads(session, feeds)
    for index, result in enumerate(results):
        assert np.all(result == 2 + index % 2), "a call ran with another call's weight"


def test_a_fixed_batch_model_runs_row_by_row():
    model = SlowDoubler(batch=1, seconds=0.0)
    session = BatchedSession(model)
    assert not session.batchable
    result = session.run({"input": np.arange(12, dtype=np.float32).reshape(3, 4), "weight": np.array([1.0], np.float32)})
    assert np.array_equal(result[0], np.arange(12, dtype=np.float32).reshape(3, 4) * 2 + 1)
    assert model.batches == [1, 1, 1]


def test_a_failing_run_reaches_every_caller_and_the_next_run_works():
    model = SlowDoubler()
    session = BatchedSession(model)
    original = model.run
    model.run = lambda names, feed: (_ for _ in ()).throw(RuntimeError("model broke"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="model broke"):
        _call_from_threads(session, [_feed(1.0) for _ in range(4)])
    model.run = original  # type: ignore[method-assign]
    assert np.all(session.run(_feed(3.0))[0] == 6)


def test_a_real_onnx_model_batched_across_threads_matches_single_runs(tmp_path: Path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from facefusion.inference.runtime import SessionPool

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["input", "w"], ["output"], pads=[1, 1, 1, 1])], "conv",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 32, 32])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 8, 32, 32])],
                              [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "conv.onnx"))
    pool = SessionPool()
    batched = pool.batched(tmp_path / "conv.onnx")
    assert batched is pool.batched(tmp_path / "conv.onnx"), "one batcher per model file"
    feeds = [{"input": rng.random((2, 3, 32, 32), dtype=np.float32)} for _ in range(10)]
    results = _call_from_threads(batched, feeds)
    plain = pool.session(tmp_path / "conv.onnx")
    for feed, result in zip(feeds, results):
        assert np.allclose(result, plain.run(None, feed)[0], atol=1e-5)


def test_a_half_precision_model_takes_and_gives_float32_to_its_callers(tmp_path: Path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from facefusion.inference.runtime import SessionPool

    graph = helper.make_graph([helper.make_node("Neg", ["input"], ["output"])], "half",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT16, ["batch", 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT16, ["batch", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "half_fp16.onnx"))
    result = SessionPool().batched(tmp_path / "half_fp16.onnx").run({"input": np.full((2, 4), 1.5, np.float32)})[0]
    assert result.dtype == np.float32 and np.array_equal(result, np.full((2, 4), -1.5, np.float32))

"""The job store on SQLite and on a real PostgreSQL server: claims, idempotency, restarts, callbacks."""
from __future__ import annotations

import threading

import pytest

from facefusion.service.store import JobStore

from postgres_server import postgres_bin, postgres_server


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        opened = JobStore(tmp_path / "jobs.sqlite3")
        yield opened
        opened.close()
        return
    pytest.importorskip("psycopg")
    if postgres_bin() is None:
        pytest.skip("needs Debian's postgresql (.ci/run installs it)")
    with postgres_server() as url:
        opened = JobStore(url)
        yield opened
        opened.close()


def test_two_workers_never_claim_the_same_job(store):
    for number in range(40):
        store.create("alice", {"n": number})
    claimed: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while (job := store.claim()) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 40 and len(set(claimed)) == 40
    assert store.claim() is None and store.count_waiting("alice") == 40  # all running now


def test_idempotency_restart_cancel_and_callbacks(store):
    first, new = store.create("alice", {"a": 1}, idempotency_key="k1")
    again, second_new = store.create("alice", {"a": 2}, idempotency_key="k1")
    other, other_new = store.create("bob", {"a": 3}, idempotency_key="k1")
    assert new and not second_new and again.id == first.id and again.request == {"a": 1}
    assert other_new and other.id != first.id
    running = store.claim()
    assert running is not None and running.id == first.id and running.status == "running"
    assert store.requeue_running() == 1 and store.get(first.id).status == "queued"
    assert store.cancel(other.id).status == "cancelled"
    store.set_progress(first.id, {"frames": 3, "total": 9})
    store.add_callback_attempt(first.id, {"attempt": 1, "status": 500})
    store.add_callback_attempt(first.id, {"attempt": 2, "status": 204})
    store.finish(first.id, "done", result={"frames": 9})
    job = store.get(first.id)
    assert job.status == "done" and job.progress == {"frames": 3, "total": 9} and job.result == {"frames": 9}
    assert [attempt["status"] for attempt in job.callbacks] == [500, 204]


def test_the_service_runs_on_a_postgresql_store(tmp_path, generated):
    pytest.importorskip("psycopg")
    if postgres_bin() is None:
        pytest.skip("needs Debian's postgresql (.ci/run installs it)")
    from test_service import serving, submit, wait_for

    with postgres_server() as url:
        with serving(tmp_path, "--store", url) as service:
            status, job = submit(service, generated["grace_hopper"], [generated["astronaut"]])
            assert status == 202
            assert wait_for(service, job["id"])["status"] == "done"
        assert not (tmp_path / "data" / "jobs.sqlite3").exists()
        assert JobStore(url).get(job["id"]).status == "done"


def test_a_store_that_cannot_be_reached_is_a_clear_error():
    pytest.importorskip("psycopg")
    from facefusion.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="--store: cannot connect to postgresql://studio@127.0.0.1:1/x"):
        JobStore("postgresql://studio@127.0.0.1:1/x")

"""The job store on SQLite and on a real PostgreSQL server: claims, idempotency, leases, restarts, callbacks."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from facefusion.service.store import JobStore
from postgres_server import postgres_bin, postgres_server


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    """Where a store lives: a SQLite file, or a real PostgreSQL server's URL."""
    if request.param == "sqlite":
        yield tmp_path / "jobs.sqlite3"
        return
    pytest.importorskip("psycopg")
    if postgres_bin() is None:
        pytest.skip("needs Debian's postgresql (.ci/run installs it)")
    with postgres_server() as url:
        yield url


@pytest.fixture
def store(location):
    opened = JobStore(location)
    yield opened
    opened.close()


def test_two_workers_never_claim_the_same_job(store):
    for number in range(40):
        store.create("alice", {"n": number})
    claimed: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while (job := store.leases.claim()) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 40 and len(set(claimed)) == 40
    assert store.leases.claim() is None and store.count_waiting("alice") == 40  # all running now


def test_idempotency_restart_cancel_and_callbacks(store):
    first, new = store.create("alice", {"a": 1}, idempotency_key="k1")
    again, second_new = store.create("alice", {"a": 2}, idempotency_key="k1")
    other, other_new = store.create("bob", {"a": 3}, idempotency_key="k1")
    assert new and not second_new and again.id == first.id and again.request == {"a": 1}
    assert other_new and other.id != first.id
    running = store.leases.claim()
    assert running is not None and running.id == first.id and running.status == "running"
    assert running.worker == store.worker_id
    store.leases.requeue(first.id)  # a stopping server gives its job back
    assert store.get(first.id).status == "queued" and store.get(first.id).worker is None
    assert store.cancel(other.id).status == "cancelled"
    assert store.leases.claim().id == first.id
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


def test_each_server_keeps_its_own_jobs_until_its_lease_runs_out(location):
    """Two API processes on one store: a restart of one leaves the other's running job alone; a cancel
    reaches the process that runs the job; a dead process's job goes to the other after the lease."""
    first_server, second_server = JobStore(location, lease_seconds=1.5), JobStore(location, lease_seconds=1.5)
    try:
        early, _ = first_server.create("alice", {"n": 1})
        late, _ = first_server.create("alice", {"n": 2})
        assert first_server.leases.claim().id == early.id and second_server.leases.claim().id == late.id
        second_server.leases.requeue(late.id)  # the second server restarts ...
        second_server.leases.requeue(early.id)  # ... and cannot give back what the first runs
        assert second_server.leases.requeue_expired() == 0
        assert second_server.get(early.id).status == "running" and second_server.get(late.id).status == "queued"
        assert second_server.get(early.id).worker == first_server.worker_id

        second_server.cancel(early.id)  # DELETE arrived at the other process
        assert second_server.get(early.id).status == "running"  # until its own server stops it
        held, cancelled = first_server.leases.renew()
        assert held == {early.id} and cancelled == {early.id}
        assert not second_server.finish(early.id, "done", result={"frames": 1})

        time.sleep(0.8)
        first_server.leases.renew()  # renewed in time: still its own
        time.sleep(0.8)
        assert second_server.leases.requeue_expired() == 0
        time.sleep(1.6)  # the first server died: no renewal for longer than the lease
        assert second_server.leases.requeue_expired() == 1
        taken = second_server.leases.claim()
        assert taken.id == early.id and taken.worker == second_server.worker_id
        assert taken.cancel_requested  # the cancel is not lost with its server: the next one ends the job
        assert first_server.leases.renew() == (set(), set())  # the first one learns that it lost the job
        assert not first_server.finish(early.id, "done")  # and its late outcome does not count
        assert second_server.finish(early.id, "cancelled", error="cancelled by the caller")
        assert second_server.get(early.id).status == "cancelled"
    finally:
        first_server.close()
        second_server.close()


def test_a_store_made_before_leases_gets_their_columns(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""CREATE TABLE jobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, idempotency_key TEXT,
        status TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL,
        request TEXT NOT NULL, progress TEXT NOT NULL DEFAULT '{}', result TEXT, error TEXT,
        callbacks TEXT NOT NULL DEFAULT '[]', UNIQUE (owner, idempotency_key));
        INSERT INTO jobs (id, owner, status, created, updated, request)
        VALUES ('old', 'alice', 'running', 1, 1, '{}');""")
    old.commit()
    old.close()
    store = JobStore(path)
    try:
        assert store.get("old").worker is None
        assert store.leases.requeue_expired() == 1  # left running by a server of the earlier version
        assert store.leases.claim().id == "old"
    finally:
        store.close()


def test_the_queue_limit_holds_for_requests_at_once_and_repeated_keys_must_match(store):
    from facefusion.service.store import IdempotencyConflict, QueueFull

    outcomes: list[str] = []
    lock = threading.Lock()

    def one(number: int) -> None:
        try:
            store.create("alice", {"n": number}, max_waiting=3)
            outcome = "created"
        except QueueFull:
            outcome = "full"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(number,)) for number in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] * 3 + ["full"] * 9
    first, _ = store.create("bob", {"a": 1}, idempotency_key="k", fingerprint="one")
    again, new = store.create("bob", {"a": 1}, idempotency_key="k", fingerprint="one")
    assert again.id == first.id and not new
    with pytest.raises(IdempotencyConflict):
        store.create("bob", {"a": 2}, idempotency_key="k", fingerprint="two")


def test_callbacks_wait_in_the_outbox_until_delivered_and_one_taker_holds_each(store):
    job, _ = store.create("alice", {"n": 1})
    delivery_id = store.outbox.queue(job.id, "https://example.org/hook", b'{"id": 1}')
    taken = store.outbox.take(hold_seconds=30)
    assert taken is not None and taken.delivery_id == delivery_id and taken.body == b'{"id": 1}'
    assert store.outbox.take(hold_seconds=30) is None  # held by its taker
    store.outbox.retry(delivery_id, due=time.time() + 60)
    assert store.outbox.take(hold_seconds=30) is None  # not due yet
    store.outbox.retry(delivery_id, due=time.time() - 1)
    again = store.outbox.take(hold_seconds=30)
    assert again is not None and again.attempts == 2
    store.outbox.drop(delivery_id)
    assert store.outbox.take(hold_seconds=30) is None

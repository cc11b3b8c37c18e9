"""The job store: every job the API accepted, its state, progress, result and callback attempts.

SQLite in WAL mode in the service's data folder (the embedded default: no server to run), or PostgreSQL
(``--store postgresql://…``) for several API processes on several machines. A job is claimed with one
``UPDATE … RETURNING`` (on PostgreSQL over ``FOR UPDATE SKIP LOCKED``), so two workers never take the same
one.

A claimed job is leased: it names the process that runs it (``worker``) and stays its own while that process
renews the lease (``renew``, every few seconds). A server that stops puts its own running jobs back in the
queue; one that died keeps them only until the lease runs out, and then any server takes them again (the
pipeline resumes a video from its last finished segment). So restarting one of several API processes on one
store touches only that process's jobs. Cancelling a job another process runs sets ``cancel_requested``,
which that process sees at its next renewal.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
LEASE_SECONDS = 20.0
"""How long a running job stays with a server that stopped renewing it (it renews every quarter of this)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    idempotency_key TEXT,
    status TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    request TEXT NOT NULL,
    progress TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    error TEXT,
    callbacks TEXT NOT NULL DEFAULT '[]',
    UNIQUE (owner, idempotency_key)
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created);
CREATE TABLE IF NOT EXISTS outbox (
    delivery_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due DOUBLE PRECISION NOT NULL,
    taken_until DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due);
"""
ADDED_COLUMNS = {"worker": "TEXT", "lease_until": "DOUBLE PRECISION",
                 "cancel_requested": "INTEGER NOT NULL DEFAULT 0", "purged": "DOUBLE PRECISION",
                 "fingerprint": "TEXT"}
"""Added to stores made before jobs were leased and their files could be deleted (and to new ones)."""


class QueueFull(Exception):
    """The caller already has its limit of jobs queued or running."""


class IdempotencyConflict(Exception):
    """An Idempotency-Key the caller used before, sent with another request."""


@dataclass
class Delivery:
    """One callback waiting in the outbox: the same ``delivery_id`` on every attempt (receivers de-duplicate
    by it)."""
    delivery_id: str
    job_id: str
    url: str
    body: bytes
    attempts: int


def new_job_id() -> str:
    return uuid.uuid4().hex


def new_worker_id() -> str:
    """Names one server process in the store (host and PID for the reader, a random part for uniqueness)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class JobRecord:
    id: str
    owner: str
    status: str
    created: float
    updated: float
    request: dict[str, Any]
    """What the caller asked: sources, target (paths in the data folder), options, callback_url."""
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    idempotency_key: str | None = None
    worker: str | None = None
    """The server process running it (while running)."""
    cancel_requested: bool = False
    purged: float | None = None
    """When the job's files (inputs and result) were deleted."""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def _fetched(cursor: Any) -> list[Any]:
    """A statement's rows (none for a statement that returns none)."""
    return list(cursor.fetchall()) if cursor.description is not None else []


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(id=row["id"], owner=row["owner"], status=row["status"], created=row["created"],
                     updated=row["updated"], request=json.loads(row["request"]), progress=json.loads(row["progress"]),
                     result=json.loads(row["result"]) if row["result"] else None, error=row["error"],
                     callbacks=json.loads(row["callbacks"]), idempotency_key=row["idempotency_key"],
                     worker=row["worker"], cancel_requested=bool(row["cancel_requested"]), purged=row["purged"])


class Database:
    """The job store's connection: SQLite (a file path) or PostgreSQL (a ``postgresql://`` URL), one statement or
    one transaction at a time, ``?`` placeholders for both."""

    def __init__(self, location: str | Path) -> None:
        self.postgres = str(location).startswith(("postgresql://", "postgres://"))
        self._lock = threading.Lock()
        # sqlite3's and psycopg's connections share the calls the store makes (execute, close) but no type.
        self._connection: Any
        if self.postgres:
            import psycopg
            from psycopg.rows import dict_row

            try:
                self._connection = psycopg.connect(str(location), autocommit=True, row_factory=dict_row)
            except psycopg.OperationalError as error:
                raise InvalidInputError(f"--store: cannot connect to {location} ({error})".strip()) from None
        else:
            path = Path(location)
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
            connection.row_factory = sqlite3.Row
            self._connection = connection
            try:
                self._prepare()
            except sqlite3.DatabaseError as error:
                self._connection.close()
                raise InvalidInputError(f"the job store {path} cannot be read ({error}); restore it from a backup "
                                        "or move it away to start with an empty store") from None
            return
        self._prepare()

    def _prepare(self) -> None:
        if not self.postgres:
            self.execute("PRAGMA journal_mode=WAL")
            self.execute("PRAGMA synchronous=NORMAL")
            checked = self.row("PRAGMA quick_check")
            if checked is None or checked[0] != "ok":
                raise sqlite3.DatabaseError(checked[0] if checked is not None else "no answer to a check")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                self.execute(statement)
        self._add_columns()

    def _add_columns(self) -> None:
        if self.postgres:
            for name, kind in ADDED_COLUMNS.items():
                self.execute(f"ALTER TABLE jobs ADD COLUMN IF NOT EXISTS {name} {kind}")
            return
        with self._lock:
            present = {row["name"] for row in self._connection.execute("PRAGMA table_info(jobs)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in present:
                self.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    @contextlib.contextmanager
    def transaction(self, owner: str) -> Iterator[Callable[[str, tuple], list[Any]]]:
        """Statements run as one transaction that no other writer for ``owner`` interleaves with (SQLite: the
        database's write lock; PostgreSQL: a lock on the owner's name), so a count and an insert stay true
        together."""
        with self._lock:
            if self.postgres:
                with self._connection.transaction():
                    self._connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (owner,))
                    yield lambda sql, parameters: _fetched(self._connection.execute(sql.replace("?", "%s"),
                                                                                    parameters))
                return
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield lambda sql, parameters: _fetched(self._connection.execute(sql, parameters))
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def execute(self, sql: str, parameters: tuple = ()) -> int:
        """Run one statement (``?`` placeholders) under the store's lock; returns the rows it changed."""
        if self.postgres:
            sql = sql.replace("?", "%s")
        with self._lock:
            return self._connection.execute(sql, parameters).rowcount

    def row(self, sql: str, parameters: tuple = ()) -> Any:
        """The first row of one statement, read under the store's lock."""
        rows = self.rows(sql, parameters)
        return rows[0] if rows else None

    def rows(self, sql: str, parameters: tuple = ()) -> list[Any]:
        """Every row of one statement, read under the store's lock."""
        if self.postgres:
            sql = sql.replace("?", "%s")
        with self._lock:
            return list(self._connection.execute(sql, parameters).fetchall())

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class JobStore:
    """Jobs in SQLite (a file path) or PostgreSQL (a ``postgresql://`` URL); safe to use from the API's threads
    and its workers. Each instance is one server process (``worker_id``) with its own leases (``leases``) and the
    callbacks waiting to be sent (``outbox``)."""

    def __init__(self, location: str | Path, lease_seconds: float = LEASE_SECONDS) -> None:
        self.db = Database(location)
        self.worker_id = new_worker_id()
        self.leases = Leases(self.db, self.worker_id, lease_seconds)
        self.outbox = CallbackOutbox(self.db)

    def create(self, owner: str, request: dict[str, Any], idempotency_key: str | None = None,
               job_id: str | None = None, max_waiting: int | None = None,
               fingerprint: str | None = None) -> tuple[JobRecord, bool]:
        """(the job, whether it is new). A repeated Idempotency-Key of the same caller returns the first job,
        or raises IdempotencyConflict when ``fingerprint`` (what was asked) differs from the first request's.
        With ``max_waiting``, QueueFull is raised when the caller has that many jobs queued or running: the
        count and the insert are one transaction, so requests sent at once cannot all pass."""
        now = time.time()
        job_id = job_id or new_job_id()
        with self.db.transaction(owner) as run:
            earlier = run("SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?",
                          (owner, idempotency_key)) if idempotency_key else []
            if earlier:
                first = _record(earlier[0])
                if fingerprint is not None and earlier[0]["fingerprint"] not in (None, fingerprint):
                    raise IdempotencyConflict(first.id)
                return first, False
            if max_waiting is not None:
                waiting = run("SELECT COUNT(*) AS waiting FROM jobs WHERE owner = ? AND status IN ('queued', "
                              "'running')", (owner,))[0]["waiting"]
                if int(waiting) >= max_waiting:
                    raise QueueFull(max_waiting)
            run("INSERT INTO jobs (id, owner, idempotency_key, status, created, updated, request, fingerprint) "
                "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
                (job_id, owner, idempotency_key, now, now, json.dumps(request), fingerprint))
        created = self.get(job_id)
        assert created is not None
        return created, True

    def get(self, job_id: str) -> JobRecord | None:
        return _one(self.db, "SELECT * FROM jobs WHERE id = ?", (job_id,))

    def list_jobs(self, owner: str, status: str | None = None, limit: int = 50) -> list[JobRecord]:
        """The caller's jobs, newest first."""
        where, parameters = ("AND status = ?", (owner, status, limit)) if status else ("", (owner, limit))
        return [_record(row) for row in self.db.rows(f"SELECT * FROM jobs WHERE owner = ? {where} "
                                                   "ORDER BY created DESC LIMIT ?", parameters)]

    def purgeable(self, finished_before: float, limit: int = 100) -> list[JobRecord]:
        """Finished jobs whose files are still kept, ended before ``finished_before``."""
        return [_record(row) for row in self.db.rows(
            "SELECT * FROM jobs WHERE status IN ('done', 'failed', 'cancelled') AND purged IS NULL AND updated < ? "
            "ORDER BY updated LIMIT ?", (finished_before, limit))]

    def mark_purged(self, job_id: str) -> None:
        self.db.execute("UPDATE jobs SET purged = ? WHERE id = ? AND purged IS NULL", (time.time(), job_id))

    def count_waiting(self, owner: str) -> int:
        row = self.db.row("SELECT COUNT(*) AS waiting FROM jobs WHERE owner = ? AND status IN ('queued', 'running')",
                        (owner,))
        return int(row["waiting"])

    def set_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        self.db.execute("UPDATE jobs SET progress = ?, updated = ? WHERE id = ?",
                      (json.dumps(progress), time.time(), job_id))

    def finish(self, job_id: str, status: str, result: dict[str, Any] | None = None, error: str | None = None) -> bool:
        """Record how a job this process runs ended; False when it is no longer its own (its lease ran out and
        another server took it: that one's outcome counts)."""
        assert status in FINISHED
        return self.db.execute("UPDATE jobs SET status = ?, result = ?, error = ?, updated = ?, worker = NULL, "
                             "lease_until = NULL WHERE id = ? AND status = 'running' AND worker = ?",
                             (status, json.dumps(result) if result is not None else None, error, time.time(), job_id,
                              self.worker_id)) == 1

    def cancel(self, job_id: str) -> JobRecord | None:
        """A queued job is cancelled at once; a running one is marked for its worker (which stops it at its
        next renewal, or at once when it runs in this process)."""
        now = time.time()
        self.db.execute("UPDATE jobs SET status = 'cancelled', updated = ? WHERE id = ? AND status = 'queued'",
                      (now, job_id))
        self.db.execute("UPDATE jobs SET cancel_requested = 1, updated = ? WHERE id = ? AND status = 'running'",
                      (now, job_id))
        return self.get(job_id)

    def add_callback_attempt(self, job_id: str, attempt: dict[str, Any]) -> None:
        # One statement, so that attempts recorded at once by two processes are both kept.
        if self.db.postgres:
            self.db.execute("UPDATE jobs SET callbacks = (callbacks::jsonb || ?::jsonb)::text WHERE id = ?",
                          (json.dumps([attempt]), job_id))
        else:
            self.db.execute("UPDATE jobs SET callbacks = json_insert(callbacks, '$[#]', json(?)) WHERE id = ?",
                          (json.dumps(attempt), job_id))

    def job_ids(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` name a job of the store."""
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(row["id"] for row in self.db.rows(f"SELECT id FROM jobs WHERE id IN ({marks})", tuple(chunk)))
        return found

    def owner_of(self, job_id: str) -> str | None:
        row = self.db.row("SELECT owner FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else str(row["owner"])

    def close(self) -> None:
        self.db.close()


def _one(db: Database, sql: str, parameters: tuple = ()) -> JobRecord | None:
    row = db.row(sql, parameters)
    return _record(row) if row is not None else None


class Leases:
    """This server's leases on the jobs it runs: taking the oldest queued job, renewing, giving back, and putting
    back in the queue the jobs of servers that stopped renewing theirs."""

    def __init__(self, db: Database, worker_id: str, lease_seconds: float) -> None:
        self.db = db
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds

    def claim(self) -> JobRecord | None:
        """The oldest queued job, now running and leased to this process (None when the queue is empty)."""
        lock = " FOR UPDATE SKIP LOCKED" if self.db.postgres else ""
        now = time.time()
        return _one(self.db, 
            "UPDATE jobs SET status = 'running', updated = ?, worker = ?, lease_until = ? WHERE id = (SELECT id FROM "
            f"jobs WHERE status = 'queued' ORDER BY created LIMIT 1{lock}) AND status = 'queued' RETURNING *",
            (now, self.worker_id, now + self.lease_seconds))

    def renew(self) -> tuple[set[str], set[str]]:
        """Extend the leases of this process's running jobs: (the jobs still its own, those of them a caller
        cancelled). A job missing from the first set was taken over after its lease ran out: stop it."""
        rows = self.db.rows("UPDATE jobs SET lease_until = ? WHERE worker = ? AND status = 'running' "
                          "RETURNING id, cancel_requested", (time.time() + self.lease_seconds, self.worker_id))
        return {row["id"] for row in rows}, {row["id"] for row in rows if row["cancel_requested"]}

    def requeue_expired(self) -> int:
        """Put back in the queue running jobs whose server stopped renewing them (it died or lost the store)."""
        return self.db.execute("UPDATE jobs SET status = 'queued', worker = NULL, lease_until = NULL, updated = ? "
                             "WHERE status = 'running' AND (lease_until IS NULL OR lease_until < ?)",
                             (time.time(), time.time()))

    def requeue(self, job_id: str) -> None:
        """Give a job this process runs back to the queue (the server is stopping: another one resumes it)."""
        self.db.execute("UPDATE jobs SET status = 'queued', worker = NULL, lease_until = NULL, updated = ? "
                      "WHERE id = ? AND status = 'running' AND worker = ?", (time.time(), job_id, self.worker_id))


class CallbackOutbox:
    """The callbacks waiting to be sent, in the job store's database: a finished job's callback waits here until
    a delivery thread of any server takes it, so that no worker waits on a receiver and a restart loses no
    callback (see service/outbox.py)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def queue(self, job_id: str, url: str, body: bytes) -> str:
        delivery_id = uuid.uuid4().hex
        self._db.execute("INSERT INTO outbox (delivery_id, job_id, url, body, due) VALUES (?, ?, ?, ?, ?)",
                             (delivery_id, job_id, url, body.decode(), time.time()))
        return delivery_id

    def take(self, hold_seconds: float) -> Delivery | None:
        """The callback due the longest, held for ``hold_seconds`` (no other thread or server takes it while
        it is being delivered; if its deliverer dies it is due again after that)."""
        lock = " FOR UPDATE SKIP LOCKED" if self._db.postgres else ""
        now = time.time()
        row = self._db.row(
            "UPDATE outbox SET taken_until = ? WHERE delivery_id = (SELECT delivery_id FROM outbox WHERE due <= ? "
            f"AND (taken_until IS NULL OR taken_until < ?) ORDER BY due LIMIT 1{lock}) RETURNING *",
            (now + hold_seconds, now, now))
        if row is None:
            return None
        return Delivery(row["delivery_id"], row["job_id"], row["url"], row["body"].encode(), int(row["attempts"]))

    def retry(self, delivery_id: str, due: float) -> None:
        self._db.execute("UPDATE outbox SET attempts = attempts + 1, due = ?, taken_until = NULL "
                             "WHERE delivery_id = ?", (due, delivery_id))

    def postpone(self, delivery_id: str, due: float) -> None:
        """Put a taken callback back, not tried (its receiver is busy with others)."""
        self._db.execute("UPDATE outbox SET due = ?, taken_until = NULL WHERE delivery_id = ?",
                             (due, delivery_id))

    def drop(self, delivery_id: str) -> None:
        """Delivered, or given up: it leaves the outbox (its attempts stay on the job)."""
        self._db.execute("DELETE FROM outbox WHERE delivery_id = ?", (delivery_id,))

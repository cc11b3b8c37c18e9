"""The job store: every job the API accepted, its state, progress, result and callback attempts.

SQLite in WAL mode in the service's data folder (the embedded default: no server to run), or PostgreSQL
(``--store postgresql://…``) for several API processes on several machines. A job is claimed with one
``UPDATE … RETURNING`` (on PostgreSQL over ``FOR UPDATE SKIP LOCKED``), so two workers never take the same
one. A server that restarts finds its queued jobs still queued and its running ones put back in the queue:
the pipeline resumes a video from its last finished segment. (With several API processes on one store, a
restart puts back every running job; give each process its own store or restart them together.)
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")

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
"""


def new_job_id() -> str:
    return uuid.uuid4().hex


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

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(id=row["id"], owner=row["owner"], status=row["status"], created=row["created"],
                     updated=row["updated"], request=json.loads(row["request"]), progress=json.loads(row["progress"]),
                     result=json.loads(row["result"]) if row["result"] else None, error=row["error"],
                     callbacks=json.loads(row["callbacks"]), idempotency_key=row["idempotency_key"])


class JobStore:
    """Jobs in SQLite (a file path) or PostgreSQL (a ``postgresql://`` URL); safe to use from the API's threads
    and its workers."""

    def __init__(self, location: str | Path) -> None:
        self._postgres = str(location).startswith(("postgresql://", "postgres://"))
        self._lock = threading.Lock()
        if self._postgres:
            import psycopg
            from psycopg.rows import dict_row

            try:
                self._connection = psycopg.connect(str(location), autocommit=True, row_factory=dict_row)
            except psycopg.OperationalError as error:
                raise InvalidInputError(f"--store: cannot connect to {location} ({error})".strip()) from None
            self._duplicate: tuple[type[Exception], ...] = (psycopg.errors.UniqueViolation,)
        else:
            path = Path(location)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
            self._connection.row_factory = sqlite3.Row
            self._duplicate = (sqlite3.IntegrityError,)
            self._execute("PRAGMA journal_mode=WAL")
            self._execute("PRAGMA synchronous=NORMAL")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                self._execute(statement)

    def _execute(self, sql: str, parameters: tuple = ()) -> int:
        """Run one statement (``?`` placeholders) under the store's lock; returns the rows it changed."""
        if self._postgres:
            sql = sql.replace("?", "%s")
        with self._lock:
            return self._connection.execute(sql, parameters).rowcount

    def _row(self, sql: str, parameters: tuple = ()) -> Any:
        """The first row of one statement, read under the store's lock."""
        if self._postgres:
            sql = sql.replace("?", "%s")
        with self._lock:
            return self._connection.execute(sql, parameters).fetchone()

    def _one(self, sql: str, parameters: tuple = ()) -> JobRecord | None:
        row = self._row(sql, parameters)
        return _record(row) if row is not None else None

    def find(self, owner: str, idempotency_key: str) -> JobRecord | None:
        """The caller's job made with this Idempotency-Key, if any."""
        return self._one("SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?", (owner, idempotency_key))

    def create(self, owner: str, request: dict[str, Any], idempotency_key: str | None = None,
               job_id: str | None = None) -> tuple[JobRecord, bool]:
        """(the job, whether it is new): a repeated Idempotency-Key of the same caller returns the first job."""
        if idempotency_key:
            earlier = self.find(owner, idempotency_key)
            if earlier is not None:
                return earlier, False
        now = time.time()
        job_id = job_id or new_job_id()
        try:
            self._execute("INSERT INTO jobs (id, owner, idempotency_key, status, created, updated, request) "
                          "VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                          (job_id, owner, idempotency_key, now, now, json.dumps(request)))
        except self._duplicate:  # the same key sent twice at once: the other request won
            earlier = self._one("SELECT * FROM jobs WHERE owner = ? AND idempotency_key = ?", (owner, idempotency_key))
            assert earlier is not None
            return earlier, False
        created = self.get(job_id)
        assert created is not None
        return created, True

    def get(self, job_id: str) -> JobRecord | None:
        return self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def count_waiting(self, owner: str) -> int:
        row = self._row("SELECT COUNT(*) AS waiting FROM jobs WHERE owner = ? AND status IN ('queued', 'running')",
                        (owner,))
        return int(row["waiting"])

    def claim(self) -> JobRecord | None:
        """The oldest queued job, now running (None when the queue is empty)."""
        lock = " FOR UPDATE SKIP LOCKED" if self._postgres else ""
        return self._one(
            "UPDATE jobs SET status = 'running', updated = ? WHERE id = (SELECT id FROM jobs WHERE status = 'queued' "
            f"ORDER BY created LIMIT 1{lock}) AND status = 'queued' RETURNING *", (time.time(),))

    def requeue_running(self) -> int:
        """Put jobs a stopped server left running back in the queue (at start-up)."""
        return self._execute("UPDATE jobs SET status = 'queued', updated = ? WHERE status = 'running'", (time.time(),))

    def requeue(self, job_id: str) -> None:
        self._execute("UPDATE jobs SET status = 'queued', updated = ? WHERE id = ? AND status = 'running'",
                      (time.time(), job_id))

    def set_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        self._execute("UPDATE jobs SET progress = ?, updated = ? WHERE id = ?",
                      (json.dumps(progress), time.time(), job_id))

    def finish(self, job_id: str, status: str, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        assert status in FINISHED
        self._execute("UPDATE jobs SET status = ?, result = ?, error = ?, updated = ? WHERE id = ?",
                      (status, json.dumps(result) if result is not None else None, error, time.time(), job_id))

    def cancel(self, job_id: str) -> JobRecord | None:
        """A queued job is cancelled at once; a running one is marked for its worker (which stops it)."""
        self._execute("UPDATE jobs SET status = 'cancelled', updated = ? WHERE id = ? AND status = 'queued'",
                      (time.time(), job_id))
        return self.get(job_id)

    def add_callback_attempt(self, job_id: str, attempt: dict[str, Any]) -> None:
        # One statement, so that attempts recorded at once by two processes are both kept.
        if self._postgres:
            self._execute("UPDATE jobs SET callbacks = (callbacks::jsonb || ?::jsonb)::text WHERE id = ?",
                          (json.dumps([attempt]), job_id))
        else:
            self._execute("UPDATE jobs SET callbacks = json_insert(callbacks, '$[#]', json(?)) WHERE id = ?",
                          (json.dumps(attempt), job_id))

    def close(self) -> None:
        with self._lock:
            self._connection.close()

"""Callbacks leave from an outbox in the job store, never from a worker.

A worker that finishes a job writes its callback into the store and takes the next job at once. Delivery
threads take due callbacks from the outbox, try each once, and put a failed one back with a later due time.
One receiver has at most PER_HOST deliveries in flight (the rest of its callbacks wait), so a receiver that
sleeps or drips holds two threads for one attempt's deadline, never all of them: other callers' callbacks
keep going. The outbox lives in the store, so callbacks survive a restart and any server on a shared store
delivers them.
"""
from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from .callbacks import ATTEMPT_DEADLINE, RETRY_AFTER, deliver_once
from .store import JobStore

logger = logging.getLogger("facefusion")

IDLE_WAIT = 0.5
PER_HOST = 2
BUSY_HOST_WAIT = 1.0


@dataclass
class CallbackSender:
    store: JobStore
    secret: str | None
    allowed_hosts: frozenset[str] = frozenset()
    retry_after: tuple[float, ...] = RETRY_AFTER
    threads: int = 8
    deadline: float = ATTEMPT_DEADLINE
    _in_flight: dict[str, int] = field(default_factory=dict)
    """Deliveries under way per receiver (host and port)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closing: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Event = field(default_factory=threading.Event)
    _running: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for number in range(self.threads):
            thread = threading.Thread(target=self._work, name=f"callbacks-{number}", daemon=True)
            thread.start()
            self._running.append(thread)

    def wake(self) -> None:
        """A callback was queued: an idle thread sends it now."""
        self._wake.set()

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        for thread in self._running:
            thread.join(self.deadline + 5)

    def _work(self) -> None:
        while not self._closing.is_set():
            try:
                sent = self.send_one()
            except Exception:  # noqa: BLE001 - a store that fails now is tried again after a pause
                logger.exception("sending a callback failed")
                sent = False
            if not sent:
                self._wake.wait(IDLE_WAIT)
                self._wake.clear()

    def send_one(self) -> bool:
        """Deliver the callback due the longest (one attempt); False when none is due."""
        delivery = self.store.outbox.take(hold_seconds=self.deadline + 30)
        if delivery is None:
            return False
        host = urllib.parse.urlsplit(delivery.url).netloc.lower()
        with self._lock:
            busy = self._in_flight.get(host, 0) >= PER_HOST
            if not busy:
                self._in_flight[host] = self._in_flight.get(host, 0) + 1
        if busy:
            self.store.outbox.postpone(delivery.delivery_id, time.time() + BUSY_HOST_WAIT)
            return False
        attempt = delivery.attempts + 1
        try:
            outcome = deliver_once(delivery.url, delivery.body, self.secret, delivery.delivery_id, attempt,
                                   self.allowed_hosts, self.deadline)
        finally:
            with self._lock:
                self._in_flight[host] -= 1
        self.store.add_callback_attempt(delivery.job_id, outcome)
        if outcome["outcome"] == "delivered":
            self.store.outbox.drop(delivery.delivery_id)
        elif attempt > len(self.retry_after):
            logger.warning("job %s: its callback failed after %d attempts; given up", delivery.job_id, attempt)
            self.store.outbox.drop(delivery.delivery_id)
        else:
            self.store.outbox.retry(delivery.delivery_id, time.time() + self.retry_after[attempt - 1])
        return True

"""Signed callbacks: the job's JSON POSTed to the caller's ``callback_url`` when it ends.

The body is signed with HMAC-SHA256 under the service's webhook secret, over ``TIMESTAMP.BODY``, so a
receiver can refuse a replayed old call: ``X-Facefusion-Timestamp: SECONDS`` and ``X-Facefusion-Signature:
sha256=HEX``. A call that fails (no answer, or not 2xx) is retried with growing pauses; every attempt is
recorded on the job.
"""
from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from typing import Callable

SIGNATURE_HEADER = "X-Facefusion-Signature"
TIMESTAMP_HEADER = "X-Facefusion-Timestamp"
ATTEMPTS = 5
FIRST_PAUSE = 0.5
TIMEOUT = 10.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The header value: ``sha256=`` and the HMAC of ``TIMESTAMP.BODY``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, header: str, max_age: float = 300.0) -> bool:
    """What a receiver does: the signature matches and the call is recent."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age
    except ValueError:
        return False
    return fresh and hmac.compare_digest(signature(secret, timestamp, body), header)


def deliver(url: str, body: bytes, secret: str | None, record: Callable[[dict], None],
            attempts: int = ATTEMPTS, first_pause: float = FIRST_PAUSE) -> bool:
    """POST ``body`` to ``url`` until a 2xx answer (at most ``attempts`` times); ``record`` gets each attempt."""
    pause = first_pause
    for attempt in range(1, attempts + 1):
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        outcome: dict = {"attempt": attempt, "time": time.time()}
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                outcome["status"] = response.status
        except urllib.error.HTTPError as error:
            outcome["status"] = error.code
        except (urllib.error.URLError, OSError) as error:
            outcome["error"] = str(getattr(error, "reason", error))
        record(outcome)
        if 200 <= int(outcome.get("status", 0)) < 300:
            return True
        if attempt < attempts:
            time.sleep(pause)
            pause *= 2
    return False

"""Signed callbacks: the job's JSON POSTed to the caller's ``callback_url`` when it ends.

The body is signed with HMAC-SHA256 under the service's webhook secret, over ``TIMESTAMP.BODY``, so a
receiver can refuse a replayed old call: ``X-Facefusion-Timestamp: SECONDS`` and ``X-Facefusion-Signature:
sha256=HEX``. ``X-Facefusion-Delivery`` is the same on every attempt of one callback: a receiver that got it
once ignores it the next time.

A callback URL is a request the server makes for a stranger, so it may reach public addresses only: its host
is resolved at submit and again at every attempt, the connection goes to the address that was checked (a name
that resolves elsewhere the second time cannot move it), no redirect is followed, and an attempt has one total
deadline however slowly the receiver answers. What is recorded on the job is only whether it was delivered and
the HTTP status: never the network's own error text, which would tell a caller what listens inside.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass

from ..errors import InvalidInputError

SIGNATURE_HEADER = "X-Facefusion-Signature"
TIMESTAMP_HEADER = "X-Facefusion-Timestamp"
DELIVERY_HEADER = "X-Facefusion-Delivery"
ATTEMPT_DEADLINE = 10.0
"""Seconds one attempt may take from connecting to the status line, however the receiver drips."""
RETRY_AFTER = (5.0, 30.0, 120.0, 300.0, 900.0)
"""Pauses before the second, third ... attempt: six attempts over about 22 minutes."""
MAX_STATUS_LINE = 1024


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


class CallbackFailed(Exception):
    """One attempt failed; ``status`` is the receiver's HTTP status when it answered."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str
    """The checked address the connection goes to."""


def is_public(address: str) -> bool:
    """Whether an address is on the public internet (not loopback, private, link-local, shared, reserved,
    multicast, nor such an address wrapped in IPv6)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(url: str, allowed_hosts: frozenset[str] = frozenset()) -> Target:
    """Where a callback to ``url`` goes: InvalidInputError (a message for the caller) when the URL is not
    http(s), does not resolve, or names a non-public address that the operator did not allow by name."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError("callback_url: give an http(s) URL")
    if parts.username or parts.password:
        raise InvalidInputError("callback_url: credentials in the URL are not sent; remove them")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInputError("callback_url: the port is not a number from 1 to 65535") from None
    host = parts.hostname.lower()
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidInputError(f"callback_url: '{host}' does not resolve") from None
    addresses = [str(item[4][0]) for item in found]
    allowed = host in allowed_hosts
    usable = [address for address in addresses if allowed or address in allowed_hosts or is_public(address)]
    if not usable or (not allowed and len(usable) != len(addresses)):
        raise InvalidInputError(f"callback_url: '{host}' is not a public address; callbacks go to public "
                                "addresses only (the operator can allow named hosts with --callback-allow-hosts)")
    path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return Target(parts.scheme, host, port, path, usable[0])


def post(url: str, body: bytes, headers: dict[str, str], allowed_hosts: frozenset[str] = frozenset(),
         deadline_seconds: float = ATTEMPT_DEADLINE) -> int:
    """POST ``body`` once; the receiver's status (any, redirects included: none is followed), or
    CallbackFailed. Everything, from resolving to the status line, fits in ``deadline_seconds``."""
    try:
        target = resolve(url, allowed_hosts)
    except InvalidInputError:
        raise CallbackFailed("refused address") from None
    deadline = time.monotonic() + deadline_seconds
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    lines = [f"POST {target.path} HTTP/1.1", f"Host: {host_header}", "Connection: close",
             "User-Agent: facefusion-studio callback", f"Content-Length: {len(body)}",
             *[f"{name}: {value}" for name, value in headers.items()]]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    try:
        with socket.create_connection((target.address, target.port), timeout=_left(deadline)) as raw:
            connection = ssl.create_default_context().wrap_socket(raw, server_hostname=target.host) \
                if target.scheme == "https" else raw
            connection.settimeout(_left(deadline))
            connection.sendall(request)
            return _status(connection, deadline)
    except CallbackFailed:
        raise
    except TimeoutError:
        raise CallbackFailed("no answer in time") from None
    except (OSError, ssl.SSLError):
        raise CallbackFailed("no answer") from None


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise CallbackFailed("no answer in time")
    return left


def _status(connection: socket.socket, deadline: float) -> int:
    """The status of the answer's first line, read against the deadline (not per byte)."""
    received = b""
    while b"\r\n" not in received:
        if len(received) > MAX_STATUS_LINE:
            raise CallbackFailed("not an HTTP answer")
        connection.settimeout(_left(deadline))
        chunk = connection.recv(256)
        if not chunk:
            break
        received += chunk
    parts = received.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise CallbackFailed("not an HTTP answer")
    return int(parts[1])


def deliver_once(url: str, body: bytes, secret: str | None, delivery_id: str, attempt: int,
                 allowed_hosts: frozenset[str] = frozenset(), deadline_seconds: float = ATTEMPT_DEADLINE) -> dict:
    """One signed attempt; what is recorded of it on the job: delivered or failed, and the HTTP status."""
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, DELIVERY_HEADER: delivery_id}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    outcome: dict = {"attempt": attempt, "time": time.time(), "delivery_id": delivery_id}
    try:
        status = post(url, body, headers, allowed_hosts, deadline_seconds)
    except CallbackFailed as failure:
        return {**outcome, "outcome": "failed", "status": None, "reason": failure.reason}
    return {**outcome, "outcome": "delivered" if 200 <= status < 300 else "failed", "status": status}

"""What makes the double refuse or misbehave: link faults, API faults and API quotas.

Link faults (:class:`Fault`) are queued per job output and consumed one per GET; API
faults are queued per operation (:class:`ApiFaults`); quotas are token buckets per
operation (:class:`Quotas`) answering ``LimitExceededException`` like the service.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

ApiFaultKind = Literal[
    "throttle", "internal", "not_found", "not_found_exception", "access_denied", "html_forbidden"
]

#: Transcribe quotas (requests per second); see docs/transcribe-facts.md.
DEFAULT_RATE_LIMITS: Final[Mapping[str, float | None]] = {
    "GetTranscriptionJob": 30.0,
    "ListTranscriptionJobs": 5.0,
    "ListCallAnalyticsJobs": 5.0,
    # Assumed to be the other List APIs' 5 requests/s.
    "ListMedicalTranscriptionJobs": 5.0,
    "ListMedicalScribeJobs": 5.0,
}


@dataclass(frozen=True)
class Fault:
    """One misbehaviour of an output link, consumed by one GET (build with the classmethods)."""

    kind: Literal[
        "expired",
        "status",
        "slow_down",
        "reset_mid_body",
        "short_read",
        "delay",
        "redirect",
        "forbidden",
        "trickle",
    ]
    code: int = 0
    seconds: float = 0.0
    location: str = ""
    #: Share of the body sent before a reset / short read (at least one byte when any).
    fraction: float = 0.5

    @classmethod
    def expired(cls) -> Fault:
        """403 AccessDenied "Request has expired" (as if the 15 minutes had passed)."""
        return cls("expired")

    @classmethod
    def status(cls, code: int) -> Fault:
        """An S3 XML error with this HTTP status (500 InternalError, 503, ...)."""
        if not 400 <= code <= 599:
            raise ValueError("status faults are HTTP errors (400-599)")
        return cls("status", code=code)

    @classmethod
    def slow_down(cls) -> Fault:
        """503 ``SlowDown`` "Please reduce your request rate." (S3 throttling)."""
        return cls("slow_down", code=503)

    @classmethod
    def reset_mid_body(cls, fraction: float = 0.5) -> Fault:
        """Full headers, part of the body, then a TCP RST (SO_LINGER 0)."""
        return cls("reset_mid_body", fraction=fraction)

    @classmethod
    def short_read(cls, fraction: float = 0.5) -> Fault:
        """Content-Length of the whole body, only part of it sent, then a clean close."""
        return cls("short_read", fraction=fraction)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before answering normally."""
        return cls("delay", seconds=seconds)

    @classmethod
    def redirect(cls, location: str) -> Fault:
        """302 Found to ``location`` (e.g. another host, or the instance metadata address)."""
        return cls("redirect", code=302, location=location)

    @classmethod
    def trickle(cls, seconds_per_byte: float, fraction: float = 0.1) -> Fault:
        """Full headers and ``fraction`` of the body at once, then one byte every
        ``seconds_per_byte``: each socket read on the client gets a byte before its own
        timeout, so only a deadline across reads stops it."""
        return cls("trickle", seconds=seconds_per_byte, fraction=fraction)

    @classmethod
    def forbidden(cls) -> Fault:
        """403 AccessDenied "Access Denied": a permanent refusal, not an expiry."""
        return cls("forbidden", code=403)


class ApiFaults:
    """The API faults queued per operation, each consumed by one call of it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[str, deque[ApiFaultKind]] = {}

    def add(self, op: str, n: int, kind: ApiFaultKind) -> None:
        if kind not in get_args(ApiFaultKind):
            raise ValueError(f"unknown API fault kind {kind!r}")
        with self._lock:
            self._queued.setdefault(op, deque()).extend([kind] * n)

    def take(self, op: str) -> ApiFaultKind | None:
        with self._lock:
            queue = self._queued.get(op)
            return queue.popleft() if queue else None


class TokenBucket:
    """``rate`` requests per second with one second's worth of burst."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class Quotas:
    """Per-operation request rates; an operation without one is unlimited."""

    def __init__(self, limits: Mapping[str, float | None] | None) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket | None] = {}
        self.set(limits)

    def set(self, limits: Mapping[str, float | None] | None) -> None:
        """Replace every quota (requests/s); ``None`` (or a None rate) means unlimited."""
        with self._lock:
            self._buckets = {
                op: (TokenBucket(rate) if rate else None) for op, rate in (limits or {}).items()
            }

    def allow(self, op: str) -> bool:
        """Whether one more call of ``op`` fits its quota now (and count it if so)."""
        with self._lock:
            bucket = self._buckets.get(op)
        return bucket is None or bucket.take()

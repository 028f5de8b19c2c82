"""The double's request log: what it answered, to whom, with which fault, and how much."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from local_aws.transcribe.model import OutputName


@dataclass(frozen=True)
class RecordedRequest:
    """One request the double answered (recorded when its status line is decided)."""

    time: float
    method: str
    #: The path without its query string (a presigned query is never recorded).
    path: str
    status: int
    client_host: str
    client_port: int
    #: API operation (``GetTranscriptionJob`` ...) for API calls, else None.
    op: str | None = None
    job: str | None = None
    output: OutputName | None = None
    #: Name of the injected fault (``throttle``, ``expired``, ``reset_mid_body``...), if any.
    fault: str | None = None
    #: The Content-Length announced (for faults that cut the body, more than was sent).
    content_length: int = 0
    #: False when the double deliberately cut the body (``reset_mid_body``/``short_read``):
    #: the status line still said 200, but the client never got the whole object.
    complete: bool = True


class RequestLog:
    """A bounded, thread-safe log of answered requests and a count of body bytes served."""

    def __init__(self, max_requests: int) -> None:
        self._lock = threading.Lock()
        self._log: deque[RecordedRequest] = deque(maxlen=max_requests)
        self._bytes_served = 0

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._log.append(request)

    def add_served(self, n: int) -> None:
        with self._lock:
            self._bytes_served += n

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request answered so far (oldest first)."""
        with self._lock:
            return list(self._log)

    @property
    def bytes_served(self) -> int:
        """Body bytes written to link clients so far."""
        with self._lock:
            return self._bytes_served

    def clear(self) -> None:
        with self._lock:
            self._log.clear()

    def api_calls(self, op: str | None = None, *, status: int | None = None) -> int:
        """How many API calls (of ``op``, answered with ``status``) were made."""
        return sum(
            1
            for r in self.requests
            if r.op is not None
            and (op is None or r.op == op)
            and (status is None or r.status == status)
        )

    def link_requests(
        self, job: str | None = None, output: OutputName | None = None, *, method: str = "GET"
    ) -> int:
        """How many requests (``GET`` by default) reached links of ``job``/``output``."""
        return sum(
            1
            for r in self.requests
            if r.op is None
            and r.method == method
            and (job is None or r.job == job)
            and (output is None or r.output == output)
        )

    def completed_fetches(self, job: str | None = None, output: OutputName | None = None) -> int:
        """GETs of ``job``/``output`` answered 200/206 with the body sent in full.

        Unlike counting ``status == 200``, this leaves out responses a reset/short-read
        fault cut short (their status line said 200 too).
        """
        return sum(
            1
            for r in self.requests
            if r.op is None
            and r.method == "GET"
            and r.status in (200, 206)
            and r.complete
            and (job is None or r.job == job)
            and (output is None or r.output == output)
        )

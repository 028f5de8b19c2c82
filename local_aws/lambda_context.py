"""A stand-in for the Lambda context object, for running the handler outside Lambda."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field


@dataclass
class FakeLambdaContext:
    """Carries what Powertools and the handler read from a real context."""

    timeout_seconds: float = 900.0
    function_name: str = "TranscribeArchiver-Archiver"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self.timeout_seconds - (time.monotonic() - self._started)) * 1000)


@contextlib.contextmanager
def lambda_environments(count: int) -> Iterator[ProcessPoolExecutor]:
    """``count`` fresh processes importing the handler as Lambda does (spawned, not forked:
    this process runs server threads). Any still running on the way out are terminated."""
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"))
    finished = False
    try:
        yield pool
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=True)
        if not finished:
            for process in set(multiprocessing.active_children()) - before:
                process.terminate()
                process.join(timeout=5)

"""Issue 3 item 6: a burst of completions against GetTranscriptionJob's quota.

"GetTranscriptionJob is limited to about 30 requests/s per account. When a thousand jobs
finish at once, throttling is absorbed (adaptive retries, bounded concurrency) and no
event ends in the DLQ because of it."

The Transcribe double enforces the quota: a token bucket of 30 requests/s (one second's
worth of burst) answering LimitExceededException beyond it. The events are handed to the
real handler all at once, at most CONCURRENCY invocations at a time, each slot its own
process as each Lambda execution environment is (its own warm clients, adaptive rate
limiter and retry quota).

The quota is the account's, not the function's: the application that started the jobs
polls GetTranscriptionJob too. Here it asks for up to NEIGHBOUR_RATE of the 30 requests/s,
which is also what lets this machine meet the quota at all: on a small test runner the
archiver alone, bound by the embedded AWS, stays near a dozen invocations per second,
while in AWS ten execution environments at ~5 small jobs/s each would ask for ~50.

Why BURST events stand for a thousand: reserved concurrency caps the function at
CONCURRENCY invocations, so a larger burst puts no more pressure on the quota, it only
lasts longer. BURST keeps the archiver pressed against the quota for tens of seconds
(dozens of one-second quota windows), long enough for the adaptive limiters to be
exercised, while the test stays well under a minute.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import Future, wait
from typing import Any, Final

import pytest
from archiver.handler import handler
from botocore.exceptions import ClientError

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.lambda_context import FakeLambdaContext, lambda_environments
from local_aws.transcribe import FakeTranscribe
from tests.integration.helpers import only_run

pytestmark = pytest.mark.integration

BURST: Final = 300
#: The function's reserved concurrency (infra/config.py's default).
CONCURRENCY: Final = 10
#: GetTranscriptionJob's quota, requests per second (docs/transcribe-facts.md).
QUOTA: Final = 30.0
#: What the rest of the account spends of the quota (requests per second).
NEIGHBOUR_RATE: Final = 22.0
#: Hard bound on the burst; it is meant to take well under a minute.
BUDGET_S: Final = 90.0


class Poller:
    """The account's other GetTranscriptionJob caller: an application polling its running
    job, up to ``rate`` requests/s from a few threads (so one slow answer does not stall
    it), without retries, counting how often it was throttled itself."""

    def __init__(self, fake: FakeTranscribe, job_name: str, rate: float, threads: int = 4):
        self._client = fake.client(retries={"mode": "standard", "max_attempts": 1})
        self._job_name = job_name
        self._interval = threads / rate  # per thread
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"poller-{i}", daemon=True)
            for i in range(threads)
        ]
        self.calls = 0
        self.throttled = 0
        self.errors: list[str] = []

    def __enter__(self) -> Poller:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        assert not any(t.is_alive() for t in self._threads), "the poller did not stop"

    def _run(self) -> None:
        due = time.monotonic()
        deadline = due + BUDGET_S + 30
        while not self._stop.is_set() and time.monotonic() < deadline:
            throttled, error = 0, None
            try:
                self._client.get_transcription_job(TranscriptionJobName=self._job_name)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "LimitExceededException":
                    throttled = 1
                else:
                    error = str(exc)
            with self._lock:
                self.calls += 1
                self.throttled += throttled
                if error:
                    self.errors.append(error)
            # Steady pace; after a slow answer carry on, without a catch-up burst.
            due = max(due + self._interval, time.monotonic())
            self._stop.wait(max(0.0, due - time.monotonic()))


def test_given_a_burst_of_completions_when_delivered_at_once_then_throttling_is_absorbed(
    embedded_aws: EmbeddedAWS, fake_transcribe: FakeTranscribe, archive_env: ArchiveEnv
) -> None:
    # Given: BURST small jobs just finished, and the account's quota already in use.
    fake = fake_transcribe
    fake.set_rate_limits({"GetTranscriptionJob": QUOTA})
    names = [f"burst-{i:04d}" for i in range(BURST)]
    for name in names:
        fake.add_job(name)  # small: the standard-minimal transcript, under 1 KB
    fake.add_job("app-still-running", status="IN_PROGRESS")
    events = {name: fake.event_for(name) for name in names}
    with Poller(fake, "app-still-running", NEIGHBOUR_RATE) as poller:
        time.sleep(1.0)  # the poller is at its pace when the burst begins
        fake.clear_requests()
        before, polls_before = poller.throttled, poller.calls

        # When: every completion event arrives at once.
        started = time.monotonic()
        with lambda_environments(CONCURRENCY) as pool:
            futures: dict[Future[dict[str, Any]], str] = {
                pool.submit(handler, event, FakeLambdaContext()): name
                for name, event in events.items()
            }
            done, not_done = wait(futures, timeout=BUDGET_S)
            assert not not_done, f"{len(not_done)} invocations still running after the budget"
        elapsed = time.monotonic() - started
    # The poller has stopped: its counters and the double's log cover the same span.
    neighbour_throttled = poller.throttled - before
    polls = poller.calls - polls_before
    raised = {futures[f]: repr(f.exception()) for f in done if f.exception()}
    outcomes = Counter(f.result()["outcome"] for f in done if not f.exception())

    calls = [r for r in fake.requests if r.op == "GetTranscriptionJob"]
    throttled = sum(1 for r in calls if r.fault == "throttle")
    archiver_calls = sum(1 for r in calls if r.status == 200 and r.job in events)
    archiver_throttled = throttled - neighbour_throttled
    print(
        f"\nburst: {BURST} events, concurrency {CONCURRENCY}, {elapsed:.1f}s "
        f"({BURST / elapsed:.1f} jobs/s); GetTranscriptionJob: {len(calls)} calls, "
        f"{throttled} throttled ({archiver_throttled} of the archiver's, "
        f"{neighbour_throttled} of the poller's), {archiver_calls} answered to the archiver, "
        f"poller {polls / elapsed:.1f}/s; "
        f"outcomes {dict(outcomes)}"
    )

    # Then: no invocation raised (none would go to the DLQ) and every job is ARCHIVED ...
    assert poller.errors == []
    assert raised == {}, list(raised.items())[:3]
    assert outcomes == {"ARCHIVED": BURST}
    db = embedded_aws.client("dynamodb")
    for name in names:
        assert only_run(db, archive_env.table, name)["ArchiveStatus"] == "ARCHIVED"
    # ... although the quota pushed back on the archiver itself: throttling was absorbed,
    # not absent.
    assert archiver_throttled > 0, "the archiver never met the quota: nothing was proven"

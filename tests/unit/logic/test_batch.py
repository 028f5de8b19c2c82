"""SQS batches: records side by side, only the failing ones reported, bad bodies dropped."""

from __future__ import annotations

import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from archiver.contract import Metric
from archiver.deadline import Deadline
from archiver.errors import RetryableArchiveError
from archiver.logic.archive import ArchiveResult
from archiver.logic.batch import SerializedMetrics, handle_batch, is_sqs_batch
from archiver.models.events import Origin
from archiver.observability import RecordingMetrics

from local_aws.event_source_mapping import sqs_event, sqs_record
from tests.unit.logic.test_events import good_event


class BatchArchiver:
    """Archives every job except those named in ``failing`` (which raise, as a run whose
    link keeps failing does); optionally waits at a barrier so records must overlap."""

    def __init__(
        self, failing: frozenset[str] = frozenset(), barrier: threading.Barrier | None = None
    ) -> None:
        self.failing = failing
        self.barrier = barrier
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def archive_job(self, job_name: str, **kwargs: Any) -> ArchiveResult:
        with self._lock:
            self.calls.append({"job_name": job_name} | kwargs)
        if self.barrier is not None:
            self.barrier.wait()  # raises BrokenBarrierError if the others never arrive
        if job_name in self.failing:
            raise RetryableArchiveError(f"{job_name}: will retry: transcript.json: HTTP 500")
        return ArchiveResult(job_name, "ARCHIVED", "2026-11-23T10:15:02.123Z", "s3://b/p/")


def body(job_name: str, **detail: Any) -> str:
    return json.dumps(good_event(TranscriptionJobName=job_name, **detail))


def run(records: list[dict[str, Any]], archiver: Any, sink: RecordingMetrics) -> dict[str, Any]:
    return handle_batch(sqs_event(records), archiver, deadline=None, metrics=sink)


def test_given_good_failing_foreign_and_garbage_records_then_only_failing_is_reported() -> None:
    sink = RecordingMetrics()
    archiver = BatchArchiver(failing=frozenset({"link-keeps-failing"}))
    good_a, good_b = sqs_record(body("good-a")), sqs_record(body("good-b"))
    failing = sqs_record(body("link-keeps-failing"))
    foreign = sqs_record(json.dumps(good_event() | {"source": "aws.s3"}))
    garbage = sqs_record("this is not JSON {")

    response = run([good_a, failing, foreign, good_b, garbage], archiver, sink)

    assert response == {"batchItemFailures": [{"itemIdentifier": failing["messageId"]}]}
    assert sorted(call["job_name"] for call in archiver.calls) == [
        "good-a",
        "good-b",
        "link-keeps-failing",
    ]
    # The foreign event and the garbage are counted as rejected, and not retried.
    assert sink.totals == {Metric.EVENTS_REJECTED: 2, Metric.ARCHIVE_ERRORS: 1}


def test_given_every_record_failing_then_every_message_is_reported_and_nothing_raises() -> None:
    records = [sqs_record(body(f"job-{i}")) for i in range(3)]
    archiver = BatchArchiver(failing=frozenset({"job-0", "job-1", "job-2"}))

    response = run(records, archiver, RecordingMetrics())

    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(
        r["messageId"] for r in records
    )


def test_given_a_full_batch_then_its_records_are_handled_side_by_side() -> None:
    # Each record waits until all four have started: handled one after another, the
    # barrier would break (after its timeout) and every record would be reported.
    records = [sqs_record(body(f"job-{i}")) for i in range(4)]
    archiver = BatchArchiver(barrier=threading.Barrier(4, timeout=10))

    started = time.monotonic()
    response = run(records, archiver, RecordingMetrics())

    assert response == {"batchItemFailures": []}
    assert len(archiver.calls) == 4
    assert time.monotonic() - started < 10


def test_given_a_deadline_then_every_record_runs_within_that_same_deadline() -> None:
    deadline = Deadline.after(600)
    archiver = BatchArchiver()
    records = [sqs_record(body(f"job-{i}")) for i in range(3)]

    handle_batch(sqs_event(records), archiver, deadline=deadline, metrics=RecordingMetrics())  # type: ignore[arg-type]

    assert [call["deadline"] for call in archiver.calls] == [deadline] * 3


@pytest.mark.parametrize(
    ("name", "event", "expected"),
    [
        ("an SQS batch", sqs_event([sqs_record("{}")]), True),
        ("an EventBridge event", good_event(), False),
        ("the sweep request", {"action": "sweep", "overlapMinutes": 15}, False),
        ("no records", {"Records": []}, False),
        ("S3 notification records", {"Records": [{"eventSource": "aws:s3"}]}, False),
        (
            "SQS records mixed with others",
            {"Records": [sqs_record("{}"), {"eventSource": "aws:sns"}]},
            False,
        ),
        ("records not a list", {"Records": "aws:sqs"}, False),
        ("not an object", ["aws:sqs"], False),
        ("null", None, False),
    ],
)
def test_given_an_invocation_then_only_sqs_batches_are_taken_for_batches(
    name: str, event: Any, expected: bool
) -> None:
    assert is_sqs_batch(event) is expected, name


class RacySink:
    """Reads, pauses, then writes back: what Powertools' unlocked metric set amounts to."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def add(self, name: str, unit: Any, value: float) -> None:
        current = self.totals.get(name, 0.0)
        time.sleep(0.0005)
        self.totals[name] = current + value


def test_given_threads_adding_metrics_at_once_then_serialized_metrics_loses_none() -> None:
    racy = RacySink()
    sink = SerializedMetrics(racy)

    def add_many(_: int) -> None:
        for _ in range(25):
            sink.add(Metric.JOBS_ARCHIVED, "Count", 1)  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(add_many, range(8)))

    assert racy.totals == {Metric.JOBS_ARCHIVED: 200}


def test_given_an_origin_then_a_batch_drops_events_of_another_account_or_region() -> None:
    """A default bus also receives what other accounts' rules forward to it: the queue path
    must reject those as the direct path does, not archive another account's job names."""
    sink = RecordingMetrics()
    archiver = BatchArchiver()
    own = sqs_record(body("own-job"))
    other_account = sqs_record(
        json.dumps(good_event(TranscriptionJobName="theirs") | {"account": "999988887777"})
    )
    other_region = sqs_record(
        json.dumps(good_event(TranscriptionJobName="far") | {"region": "eu-west-1"})
    )

    response = handle_batch(
        sqs_event([own, other_account, other_region]),
        archiver,  # type: ignore[arg-type]
        deadline=None,
        metrics=sink,
        origin=Origin(account="111122223333", region="us-east-1"),
    )

    assert response == {"batchItemFailures": []}
    assert [call["job_name"] for call in archiver.calls] == ["own-job"]
    assert sink.totals == {Metric.EVENTS_REJECTED: 2}


def test_given_a_body_that_is_not_json_then_the_log_says_so_with_its_message_id(
    json_logs: io.StringIO,
) -> None:
    sink = RecordingMetrics()
    garbage = sqs_record("{" * 3)

    response = run([garbage], BatchArchiver(), sink)

    assert response == {"batchItemFailures": []}
    assert sink.totals == {Metric.EVENTS_REJECTED: 1}
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    (rejected,) = [
        line
        for line in lines
        if line.get("message") == "queue message rejected: its body is not JSON"
    ]
    assert rejected["message_id"] == garbage["messageId"]
    assert rejected["level"] == "WARNING"
    (reason,) = rejected["reasons"]
    assert "Expecting property name" in reason and len(reason) <= 200

"""The event source mapping emulator: batches, partial responses, retries, redrive, bounds.

The handler here runs in threads (no archiver): each message body says how its record
behaves, so each test can read off what the mapping must have done.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local_aws.embedded_aws import EmbeddedAWS
from local_aws.event_source_mapping import (
    EventQueue,
    EventSourceMapping,
    MappingReport,
    create_event_queue,
    send_events,
)

#: Short, so that messages a test fails come back within a second or two.
VISIBILITY = 1


class Behaviour:
    """The handler: each body's ``do`` says what to do with its record on which receive."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.seen: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.pause)
            failures = []
            for record in event["Records"]:
                body = json.loads(record["body"])
                first = record["attributes"]["ApproximateReceiveCount"] == "1"
                with self._lock:
                    self.seen[body["name"]] += 1
                do = body.get("do", "ok")
                if do == "raise-once" and first:
                    raise RuntimeError("the invocation crashed")
                if do == "unusable-once" and first:
                    return {"batchItemFailures": [{"itemIdentifier": "no-such-message"}]}
                if do == "always-fail" or (do == "fail-once" and first):
                    failures.append({"itemIdentifier": record["messageId"]})
            return {"batchItemFailures": failures}
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.fixture
def queue(embedded_aws: EmbeddedAWS) -> Iterator[EventQueue]:
    sqs = embedded_aws.client("sqs")
    created = create_event_queue(
        sqs, f"events-{uuid.uuid4().hex[:10]}", visibility_timeout=VISIBILITY, max_receive_count=2
    )
    yield created
    for url in (created.url, created.dlq_url):
        sqs.delete_queue(QueueUrl=url)


def drive(
    aws: EmbeddedAWS,
    queue: EventQueue,
    behaviour: Behaviour,
    bodies: list[dict[str, Any]],
    *,
    max_concurrency: int = 2,
    batch_size: int = 3,
    timeout: float = 30,
) -> tuple[MappingReport, dict[str, str]]:
    sqs = aws.client("sqs")
    ids = send_events(sqs, queue.url, bodies)
    with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
        mapping = EventSourceMapping(
            sqs,
            queue.url,
            executor=pool,
            handler=behaviour,
            max_concurrency=max_concurrency,
            batch_size=batch_size,
            invocation_timeout=10,
        )
        report = mapping.run(timeout=timeout)
    return report, {body["name"]: id_ for body, id_ in zip(bodies, ids, strict=True)}


def dead_letters(aws: EmbeddedAWS, queue: EventQueue) -> list[dict[str, Any]]:
    answer = aws.client("sqs").receive_message(
        QueueUrl=queue.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
    )
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_given_a_record_listed_as_failed_then_only_it_comes_back_and_is_deleted_after(
    embedded_aws: EmbeddedAWS, queue: EventQueue
) -> None:
    bodies = [{"name": f"ok-{i}"} for i in range(5)] + [{"name": "retry", "do": "fail-once"}]

    report, ids = drive(embedded_aws, queue, Behaviour(), bodies)

    assert report.reported_failures == Counter({ids["retry"]: 1})
    assert report.received[ids["retry"]] == 2
    assert all(report.received[ids[f"ok-{i}"]] == 1 for i in range(5))
    assert report.deleted == Counter(ids.values())  # each message deleted exactly once
    assert report.failed_batches == []
    assert max(report.batch_sizes) <= 3
    assert dead_letters(embedded_aws, queue) == []


def test_given_a_record_that_always_fails_then_sqs_moves_it_to_the_dlq_after_max_receives(
    embedded_aws: EmbeddedAWS, queue: EventQueue
) -> None:
    bodies = [{"name": "ok"}, {"name": "poison", "do": "always-fail"}]

    report, ids = drive(embedded_aws, queue, Behaviour(), bodies)

    assert report.received[ids["poison"]] == 2  # the queue's maxReceiveCount
    assert report.reported_failures[ids["poison"]] == 2
    assert ids["poison"] not in report.deleted
    assert report.deleted == Counter({ids["ok"]: 1})
    assert dead_letters(embedded_aws, queue) == [{"name": "poison", "do": "always-fail"}]


@pytest.mark.parametrize("do", ["raise-once", "unusable-once"])
def test_given_an_invocation_that_raises_or_answers_nonsense_then_its_whole_batch_comes_back(
    embedded_aws: EmbeddedAWS, queue: EventQueue, do: str
) -> None:
    # One batch of three: the trouble on the first receive fails all three.
    bodies = [{"name": "a"}, {"name": "trouble", "do": do}, {"name": "b"}]

    report, ids = drive(embedded_aws, queue, Behaviour(), bodies, max_concurrency=1)

    assert len(report.failed_batches) == 1
    assert report.received == Counter(dict.fromkeys(ids.values(), 2))
    assert report.deleted == Counter(ids.values())
    assert dead_letters(embedded_aws, queue) == []


def test_given_many_batches_then_at_most_max_concurrency_invocations_run_at_once(
    embedded_aws: EmbeddedAWS, queue: EventQueue
) -> None:
    behaviour = Behaviour(pause=0.1)
    bodies = [{"name": f"job-{i}"} for i in range(24)]

    report, ids = drive(embedded_aws, queue, behaviour, bodies, max_concurrency=3, batch_size=2)

    assert behaviour.max_in_flight == 3 == report.max_in_flight
    assert behaviour.seen == Counter(body["name"] for body in bodies)
    assert report.deleted == Counter(ids.values())
    assert sum(size * n for size, n in report.batch_sizes.items()) == 24


def test_given_a_queue_that_cannot_drain_in_time_then_run_raises_instead_of_waiting(
    embedded_aws: EmbeddedAWS,
) -> None:
    sqs = embedded_aws.client("sqs")
    stuck = create_event_queue(
        sqs, f"stuck-{uuid.uuid4().hex[:10]}", visibility_timeout=VISIBILITY, max_receive_count=99
    )
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="not drained"):
        drive(embedded_aws, stuck, Behaviour(), [{"name": "x", "do": "always-fail"}], timeout=2)
    assert time.monotonic() - started < 15

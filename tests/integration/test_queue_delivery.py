"""Issue 14: events reach the function through a queue, in SQS batches.

First the handler alone, handed a batch as Lambda's event source mapping hands it (what the
acceptance harness does); then the whole path over moto's SQS: the emulated mapping
(``local_aws.event_source_mapping``) with the stack's batch size, partial batch responses,
retries after the visibility timeout, redrive to the dead-letter queue, and ``replay`` of
that queue.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from archiver import contract
from archiver.cli import main
from archiver.handler import handler
from archiver.logic.archive import RetryPolicy

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.event_source_mapping import (
    EventQueue,
    EventSourceMapping,
    create_event_queue,
    send_events,
    sqs_event,
    sqs_record,
)
from local_aws.lambda_context import FakeLambdaContext, lambda_environments
from local_aws.transcribe import FakeTranscribe, Fault
from tests.integration.helpers import World, only_run, runs

pytestmark = pytest.mark.integration

#: Attempts one invocation makes on a failing link before it gives up (and raises).
ATTEMPTS = RetryPolicy().max_attempts


class QueueWorld(World):
    def __init__(self, aws: EmbeddedAWS, env: ArchiveEnv, fake: FakeTranscribe) -> None:
        super().__init__(aws, env, fake)
        self.sqs = aws.client("sqs")

    @staticmethod
    def foreign_event() -> dict[str, Any]:
        """Another service's event, as a misrouted rule would send it."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": "123456789012",
            "time": "2026-11-23T10:16:40Z",
            "region": "us-east-1",
            "resources": ["arn:aws:s3:::whatever"],
            "detail": {"bucket": {"name": "whatever"}, "object": {"key": "whatever.json"}},
        }

    def queue_bodies(self, url: str) -> list[dict[str, Any]]:
        # Visible again at once, for whoever reads the queue next.
        answer = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=0
        )
        return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


@pytest.fixture
def world(
    embedded_aws: EmbeddedAWS, archive_env: ArchiveEnv, fake_transcribe: FakeTranscribe
) -> QueueWorld:
    return QueueWorld(embedded_aws, archive_env, fake_transcribe)


# -- the handler, handed a batch ------------------------------------------------------------


def test_given_a_batch_of_good_failing_and_foreign_records_then_only_the_failing_one_comes_back(
    world: QueueWorld,
) -> None:
    fake = world.fake
    fake.add_job("good-one")
    fake.add_job("good-two", subtitle_formats=["vtt", "srt"])
    fake.add_job("link-keeps-failing", subtitle_formats=["srt"])
    fake.inject("link-keeps-failing", "transcript", [Fault.status(500)] * ATTEMPTS)
    records = [
        sqs_record(json.dumps(fake.event_for("good-one"))),
        sqs_record(json.dumps(fake.event_for("link-keeps-failing"))),
        sqs_record(json.dumps(world.foreign_event())),
        sqs_record(json.dumps(fake.event_for("good-two"))),
    ]

    response = handler(sqs_event(records), FakeLambdaContext())

    # Exactly the failing job's message comes back; the foreign event is dropped.
    assert response == {"batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}]}
    world.whole("good-one")
    world.whole("good-two")
    failing = only_run(world.db, world.table, "link-keeps-failing")
    assert failing["ArchiveStatus"] == "INCOMPLETE"
    assert "transcript.json" in failing["ArchiveError"]
    assert "subtitles.srt" in failing["Outputs"]  # what could be copied is kept
    assert runs(world.db, world.table, "whatever.json") == []


def test_given_a_direct_eventbridge_event_then_it_is_still_archived(world: QueueWorld) -> None:
    world.fake.add_job("direct", subtitle_formats=["vtt"])

    response = handler(world.fake.event_for("direct"), FakeLambdaContext())

    assert response["outcome"] == "ARCHIVED"
    world.whole("direct")


def test_given_the_same_event_twice_in_one_batch_then_one_run_one_copy_and_no_failure(
    world: QueueWorld,
) -> None:
    world.fake.add_job("twice", subtitle_formats=["srt"])
    event = json.dumps(world.fake.event_for("twice"))
    world.fake.clear_requests()

    response = handler(sqs_event([sqs_record(event), sqs_record(event)]), FakeLambdaContext())

    # Handled side by side: one record archives, the other waits on its lease and finds
    # the run archived.
    assert response == {"batchItemFailures": []}
    world.whole("twice")
    assert world.fake.link_requests("twice", "transcript") == 1
    assert world.fake.link_requests("twice", "srt") == 1


def test_given_a_late_event_of_a_reused_name_in_a_batch_then_each_run_keeps_its_own_item(
    world: QueueWorld,
) -> None:
    fake = world.fake
    fake.add_job("reused", status="FAILED", failure_reason="Unsupported media format")
    late = fake.event_for("reused")
    fake.delete_job("reused")
    fake.add_job("reused")

    response = handler(
        sqs_event([sqs_record(json.dumps(fake.event_for("reused"))), sqs_record(json.dumps(late))]),
        FakeLambdaContext(),
    )

    assert response == {"batchItemFailures": []}
    items = runs(world.db, world.table, "reused")
    assert sorted(item["JobStatus"] for item in items) == ["COMPLETED", "FAILED"]
    by_status = {item["JobStatus"]: item for item in items}
    assert by_status["COMPLETED"]["ArchiveStatus"] == "ARCHIVED"
    assert by_status["FAILED"]["ArchiveStatus"] == "INCOMPLETE"  # the run no longer exists


def test_given_a_sweep_request_then_the_sweep_still_runs(world: QueueWorld) -> None:
    world.fake.add_job("event-lost")

    response = handler({"action": "sweep", "overlapMinutes": 15}, FakeLambdaContext())

    assert response["action"] == "sweep"
    assert response["recovered"] == 1
    world.whole("event-lost")


# -- the whole path: queue, mapping, dead-letter queue, replay --------------------------------

#: Scaled down from the stack's 90 minutes. The test runs one invocation at a time: its
#: single poller receives only once the invocation has answered, so a message can never be
#: read twice while it is being handled, however slow the machine, and this only paces
#: the retries.
VISIBILITY = 3
#: Scaled down from the stack's contract.QUEUE_MAX_RECEIVE_COUNT, to keep the test short.
MAX_RECEIVES = 2


@pytest.fixture
def event_queue(world: QueueWorld) -> Iterator[EventQueue]:
    queue = create_event_queue(
        world.sqs,
        f"archiver-events-{uuid.uuid4().hex[:10]}",
        visibility_timeout=VISIBILITY,
        max_receive_count=MAX_RECEIVES,
    )
    yield queue
    for url in (queue.url, queue.dlq_url):
        world.sqs.delete_queue(QueueUrl=url)


def test_given_events_through_the_queue_then_failures_retry_poison_parks_and_replay_ends_it(
    world: QueueWorld, event_queue: EventQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = world.fake
    good = [f"queued-{i}" for i in range(5)]
    for name in good:
        fake.add_job(name, subtitle_formats=["vtt"])
    fake.add_job("flaky")  # fails one invocation's worth of attempts, then works
    fake.inject("flaky", "transcript", [Fault.status(500)] * ATTEMPTS)
    fake.add_job("poison")  # fails every delivery the queue makes
    fake.inject("poison", "transcript", [Fault.status(500)] * ATTEMPTS * MAX_RECEIVES)
    events = [fake.event_for(name) for name in [*good, "flaky", "poison"]]
    events.append(fake.event_for(good[0]))  # a duplicate delivery
    events.append(world.foreign_event())
    ids = send_events(world.sqs, event_queue.url, events)
    garbage = world.sqs.send_message(QueueUrl=event_queue.url, MessageBody="not JSON {")

    with lambda_environments(1) as pool:
        mapping = EventSourceMapping(
            world.sqs,
            event_queue.url,
            executor=pool,
            handler=handler,
            max_concurrency=1,
            batch_size=contract.QUEUE_BATCH_SIZE,
            invocation_timeout=60,
        )
        report = mapping.run(timeout=120)

    # The good jobs (one delivered twice) and the flaky one are archived, whole ...
    for name in [*good, "flaky"]:
        world.whole(name)
    # ... the flaky one after its message came back once; nothing else was retried: the
    # foreign event and the garbage were dropped on their first delivery.
    by_name = dict(zip([*good, "flaky", "poison", "duplicate", "foreign"], ids, strict=True))
    assert report.reported_failures == Counter({by_name["flaky"]: 1, by_name["poison"]: 2})
    assert report.failed_batches == []
    once = Counter([*ids, garbage["MessageId"]])
    assert report.received == once + Counter([by_name["flaky"], by_name["poison"]])
    # ... and the poison job waits in the dead-letter queue, its run INCOMPLETE with why.
    assert world.queue_bodies(event_queue.dlq_url) == [events[6]]
    poison = only_run(world.db, world.table, "poison")
    assert poison["ArchiveStatus"] == "INCOMPLETE"
    assert "500" in poison["ArchiveError"]

    # When: the cause is gone (the faults are spent) and the DLQ is replayed.
    code = main(["replay", "--queue-url", event_queue.dlq_url])
    out = " ".join(capsys.readouterr().out.split())

    # Then: the run is archived and the dead-letter queue is empty.
    assert code == 0, out
    assert "poison" in out and "ARCHIVED" in out
    world.whole("poison")
    assert world.queue_bodies(event_queue.dlq_url) == []

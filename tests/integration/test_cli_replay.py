"""`transcribe-archiver replay` against an SQS queue on moto and the Transcribe double.

The queue holds what the stack's dead-letter queues hold: a target-DLQ message (the event
itself, as in the event queue's DLQ), a Lambda on-failure record (the event inside, parked
before events came through the queue), plus two messages no replay can help: garbage, and
an event the function rejects.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from archiver.cli import main

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe
from tests.integration.helpers import assert_archived_whole, keys_under, runs

GARBAGE = "this is not an event {"


@pytest.fixture(autouse=True)
def _wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns off a terminal


def on_failure_record(event: dict[str, Any]) -> dict[str, Any]:
    """What Lambda sends to an on-failure destination after the retries of an async event."""
    return {
        "version": "1.0",
        "timestamp": "2026-11-23T10:20:00.000Z",
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:archiver:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {
            "errorMessage": "lambda-job: will retry: transcript.json: out of time",
            "errorType": "RetryableArchiveError",
        },
    }


@pytest.fixture
def queue(
    archive_env: ArchiveEnv,
    embedded_aws: EmbeddedAWS,
    fake_transcribe: FakeTranscribe,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    sqs = embedded_aws.client("sqs")
    url = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    monkeypatch.setenv("DLQ_URL", url)
    fake_transcribe.add_job("eventbridge-job", subtitle_formats=["srt"])
    fake_transcribe.add_job("lambda-job", status="FAILED")
    rejected = fake_transcribe.event_for("eventbridge-job")
    rejected["source"] = "aws.s3"
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(fake_transcribe.event_for("eventbridge-job")),
        MessageAttributes={
            "ERROR_CODE": {"DataType": "String", "StringValue": "SDK_CLIENT_ERROR"},
            "ERROR_MESSAGE": {"DataType": "String", "StringValue": "Rate Exceeded."},
        },
    )
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(on_failure_record(fake_transcribe.event_for("lambda-job"))),
    )
    sqs.send_message(QueueUrl=url, MessageBody=GARBAGE)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(rejected))
    yield {"sqs": sqs, "url": url, "rejected": rejected}
    sqs.delete_queue(QueueUrl=url)


def bodies_left(queue: dict[str, Any]) -> list[str]:
    """Every message body in the queue now (they must all be visible again)."""
    found: list[str] = []
    while True:
        messages = (
            queue["sqs"]
            .receive_message(QueueUrl=queue["url"], MaxNumberOfMessages=10, VisibilityTimeout=30)
            .get("Messages", [])
        )
        if not messages:
            return sorted(found)
        found.extend(m["Body"] for m in messages)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, " ".join(captured.err.split())


def test_given_both_dlq_shapes_when_replayed_then_both_jobs_are_archived_and_only_they_leave(
    queue: dict[str, Any],
    archive_env: ArchiveEnv,
    embedded_aws: EmbeddedAWS,
    fake_transcribe: FakeTranscribe,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s3, db = embedded_aws.client("s3"), embedded_aws.client("dynamodb")

    code, out, err = cli(capsys, "replay", "--queue-url", queue["url"])

    assert code == 1  # two messages could not be replayed
    for name in ("eventbridge-job", "lambda-job"):
        assert_archived_whole(s3, db, archive_env.bucket, archive_env.table, fake_transcribe, name)
    assert bodies_left(queue) == sorted([GARBAGE, json.dumps(queue["rejected"])])
    table = " ".join(out.split())
    assert "eventbridge-job" in table and "lambda-job" in table
    assert "lambda-destination" in table and "eventbridge" in table
    assert "not an event" in table
    assert "rejected as the function rejects it" in table
    assert "2 messages could not be replayed and stay in the queue" in err
    assert "Traceback" not in out + err


def test_given_a_dry_run_then_messages_are_listed_and_nothing_changes(
    queue: dict[str, Any],
    archive_env: ArchiveEnv,
    embedded_aws: EmbeddedAWS,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(capsys, "replay", "--dry-run")  # the queue from $DLQ_URL

    assert code == 0, err
    table = " ".join(out.split())
    assert "4 messages in the queue (nothing changed)" in table
    for text in ("eventbridge-job", "lambda-job", "COMPLETED", "FAILED", "lambda-destination"):
        assert text in table
    assert "SDK_CLIENT_ERROR: Rate Exceeded." in table
    assert "RetriesExhausted; RetryableArchiveError" in table
    assert len(bodies_left(queue)) == 4  # all still there, and visible at once
    assert keys_under(embedded_aws.client("s3"), archive_env.bucket, "") == []
    assert runs(embedded_aws.client("dynamodb"), archive_env.table, "eventbridge-job") == []


def test_given_the_same_event_parked_twice_when_replayed_then_one_run_and_both_leave(
    queue: dict[str, Any],
    archive_env: ArchiveEnv,
    embedded_aws: EmbeddedAWS,
    fake_transcribe: FakeTranscribe,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = embedded_aws.client("dynamodb")
    duplicate = json.dumps(fake_transcribe.event_for("eventbridge-job"))
    queue["sqs"].send_message(QueueUrl=queue["url"], MessageBody=duplicate)

    code, out, _ = cli(capsys, "replay")

    assert code == 1  # for the garbage and the rejected event only
    assert len(runs(db, archive_env.table, "eventbridge-job")) == 1
    assert "DUPLICATE" in out
    assert bodies_left(queue) == sorted([GARBAGE, json.dumps(queue["rejected"])])


def test_given_no_queue_then_exit_2_asks_for_one(
    archive_env: ArchiveEnv, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DLQ_URL", raising=False)

    code, _, err = cli(capsys, "replay")

    assert code == 2
    assert "--queue-url" in err

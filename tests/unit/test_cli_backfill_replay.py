"""The pieces of `backfill` and `replay` that need no AWS: pacing, listing, DLQ shapes."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from archiver.logic.backfill import RateLimiter, list_finished_jobs
from archiver.logic.replay import read_message
from botocore.stub import Stubber

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EVENT = {
    "version": "0",
    "id": "5f6b3c2a-0000-4000-8000-000000000001",
    "detail-type": "Transcribe Job State Change",
    "source": "aws.transcribe",
    "account": "123456789012",
    "time": "2026-11-23T10:16:40Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"TranscriptionJobName": "call-1", "TranscriptionJobStatus": "COMPLETED"},
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_given_a_rate_of_5_per_second_when_11_calls_wait_then_they_span_2_seconds() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5.0, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(11):
        limiter.wait()
        times.append(clock.now)
    assert times[-1] - times[0] == pytest.approx(2.0)
    assert all(b - a >= 0.2 - 1e-9 for a, b in itertools.pairwise(times))


# -- listing ------------------------------------------------------------------------------


def summary(name: str, created: datetime, status: str = "COMPLETED") -> dict[str, Any]:
    return {
        "TranscriptionJobName": name,
        "CreationTime": created,
        "CompletionTime": created + timedelta(minutes=1),
        "TranscriptionJobStatus": status,
    }


@pytest.fixture
def transcribe() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "transcribe",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def no_wait() -> RateLimiter:
    clock = FakeClock()
    return RateLimiter(1000.0, clock=clock, sleep=clock.sleep)


def test_given_newest_first_pages_when_listing_since_then_paging_stops_at_older_jobs(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    page1 = [summary("new-1", T0), summary("new-2", T0 - timedelta(hours=1))]
    page2 = [summary("new-3", T0 - timedelta(hours=2)), summary("old", T0 - timedelta(days=3))]
    stubber.add_response(
        "list_transcription_jobs",
        {"TranscriptionJobSummaries": page1, "NextToken": "t1"},
        {"Status": "COMPLETED", "MaxResults": 100},
    )
    stubber.add_response(
        "list_transcription_jobs",
        {"TranscriptionJobSummaries": page2, "NextToken": "t2"},  # a third page is never read
        {"Status": "COMPLETED", "MaxResults": 100, "NextToken": "t1"},
    )

    jobs = list_finished_jobs(
        client, statuses=["COMPLETED"], since=T0 - timedelta(days=1), limiter=no_wait()
    )

    assert [j.name for j in jobs] == ["new-1", "new-2", "new-3"]
    assert jobs[0].created_at == "2026-11-23T12:00:00.000Z"


def test_given_pages_out_of_order_when_listing_since_then_every_page_is_read_and_filtered(
    transcribe: tuple[Any, Stubber],
) -> None:
    client, stubber = transcribe
    page1 = [summary("old", T0 - timedelta(days=3)), summary("new-1", T0)]  # not newest first
    page2 = [summary("new-2", T0 - timedelta(hours=1))]
    stubber.add_response(
        "list_transcription_jobs",
        {"TranscriptionJobSummaries": page1, "NextToken": "t1"},
        {"Status": "FAILED", "MaxResults": 100},
    )
    stubber.add_response(
        "list_transcription_jobs",
        {"TranscriptionJobSummaries": page2},
        {"Status": "FAILED", "MaxResults": 100, "NextToken": "t1"},
    )

    jobs = list_finished_jobs(
        client, statuses=["FAILED"], since=T0 - timedelta(days=1), limiter=no_wait()
    )

    assert [j.name for j in jobs] == ["new-1", "new-2"]


# -- DLQ message shapes -------------------------------------------------------------------


def test_given_an_eventbridge_dlq_message_then_its_body_is_the_event() -> None:
    parked = read_message(
        {
            "MessageId": "m-1",
            "Body": json.dumps(EVENT),
            "Attributes": {"ApproximateReceiveCount": "2"},
            "MessageAttributes": {
                "ERROR_CODE": {"StringValue": "SDK_CLIENT_ERROR", "DataType": "String"},
                "ERROR_MESSAGE": {"StringValue": "Lambda throttled", "DataType": "String"},
            },
        }
    )
    assert parked.shape == "eventbridge"
    assert parked.event == EVENT
    assert (parked.job_name, parked.job_status, parked.event_time) == (
        "call-1",
        "COMPLETED",
        "2026-11-23T10:16:40Z",
    )
    assert parked.receive_count == 2
    assert parked.last_error == "SDK_CLIENT_ERROR: Lambda throttled"


def test_given_a_lambda_on_failure_record_then_the_request_payload_is_the_event() -> None:
    record = {
        "version": "1.0",
        "timestamp": "2026-11-23T10:20:00.000Z",
        "requestContext": {
            "requestId": "c9b8e1c4-0000-4000-8000-000000000002",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:archiver:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": EVENT,
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {
            "errorType": "RetryableArchiveError",
            "errorMessage": "call-1: will retry",
        },
    }
    parked = read_message({"MessageId": "m-2", "Body": json.dumps(record)})
    assert parked.shape == "lambda-destination"
    assert parked.event == EVENT
    assert parked.job_name == "call-1"
    assert parked.last_error == "RetriesExhausted; RetryableArchiveError: call-1: will retry"


@pytest.mark.parametrize("body", ["not json at all", "[1, 2]", '"text"', ""])
def test_given_a_body_that_is_no_json_object_then_the_message_is_unreadable(body: str) -> None:
    parked = read_message({"MessageId": "m-3", "Body": body})
    assert parked.shape == "unreadable"
    assert parked.job_name == ""

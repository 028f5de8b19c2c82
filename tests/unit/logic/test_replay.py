"""Replay reads both dead-letter shapes (logic/replay.py)."""

from __future__ import annotations

import json

import pytest
from archiver.logic.replay import read_message
from archiver.sources.dead_letters import QueueMessage

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


def message(body: str, *, count: int = 0, **attributes: str) -> QueueMessage:
    return QueueMessage("m-1", "receipt-1", body, count, attributes)


def test_given_an_eventbridge_dlq_message_then_its_body_is_the_event() -> None:
    parked = read_message(
        message(
            json.dumps(EVENT),
            count=2,
            ERROR_CODE="SDK_CLIENT_ERROR",
            ERROR_MESSAGE="Lambda throttled",
        )
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
    parked = read_message(message(json.dumps(record)))
    assert parked.shape == "lambda-destination"
    assert parked.event == EVENT
    assert parked.job_name == "call-1"
    assert parked.last_error == "RetriesExhausted; RetryableArchiveError: call-1: will retry"


@pytest.mark.parametrize("body", ["not json at all", "[1, 2]", '"text"', ""])
def test_given_a_body_that_is_no_json_object_then_the_message_is_unreadable(body: str) -> None:
    parked = read_message(message(body))
    assert parked.shape == "unreadable"
    assert parked.job_name == ""


def test_given_a_parked_call_analytics_event_then_its_job_and_status_are_read() -> None:
    event = EVENT | {
        "detail-type": "Call Analytics Job State Change",
        "detail": {"JobName": "call-9", "JobStatus": "FAILED"},
    }
    parked = read_message(message(json.dumps(event)))
    assert (parked.shape, parked.job_name, parked.job_status) == ("eventbridge", "call-9", "FAILED")

"""The default-bus rules: exactly the contract's patterns, one rule each, all to the archiver
with the same DLQ and retries — and they take the events Transcribe really sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from archiver import contract
from moto import mock_aws

from local_aws.transcribe.content import EVENTS_DIR
from tests.infra.conftest import Synth, render

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

pytestmark = pytest.mark.infra

#: Logical-ID prefix of each kind's rule (the transcription rule keeps its original ID).
RULES = {
    contract.JobKind.TRANSCRIPTION: "JobStateChangeRule",
    contract.JobKind.CALL_ANALYTICS: "JobStateChangeCallAnalyticsRule",
}


def job_rules(synth: Synth) -> dict[contract.JobKind, tuple[str, dict[str, Any]]]:
    return {kind: synth.named("AWS::Events::Rule", prefix) for kind, prefix in RULES.items()}


def test_given_every_configuration_then_each_contract_pattern_has_its_rule_on_default_bus(
    each: Synth,
) -> None:
    rules = job_rules(each)

    assert set(rules) == set(contract.EVENT_PATTERNS)
    for kind, (_, rule) in rules.items():
        assert rule["Properties"]["EventPattern"] == contract.EVENT_PATTERNS[kind]
        assert rule["Properties"]["State"] == "ENABLED"
        # No EventBusName means the account's default bus, where aws.transcribe events arrive.
        assert "EventBusName" not in rule["Properties"]
    # The job rules and the sweep's schedule, nothing else.
    assert len(each.resources("AWS::Events::Rule")) == len(contract.EVENT_PATTERNS) + 1
    assert rules[contract.JobKind.TRANSCRIPTION][1]["Properties"]["EventPattern"] == (
        contract.TRANSCRIPTION_EVENT_PATTERN
    )


def test_given_every_configuration_then_every_rule_targets_function_with_dlq_and_retries(
    each: Synth,
) -> None:
    function_id, _ = each.only("AWS::Lambda::Function")
    dlq_id = each.logical_id("AWS::SQS::Queue", "JobStateChangeTargetDeadLetterQueue")

    for kind, (_, rule) in job_rules(each).items():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}, kind
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}, kind
        assert target["RetryPolicy"] == {
            "MaximumEventAgeInSeconds": 24 * 3600,
            "MaximumRetryAttempts": 185,
        }, kind


def test_given_default_config_then_only_these_rules_may_invoke_or_fill_the_dlq(
    default: Synth,
) -> None:
    function_id, _ = default.only("AWS::Lambda::Function")
    dlq_id = default.logical_id("AWS::SQS::Queue", "JobStateChangeTargetDeadLetterQueue")
    dlq_allows = [
        statement
        for policy in default.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": dlq_id} in policy["Properties"]["Queues"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
    ]
    assert len(dlq_allows) == len(RULES)

    for rule_id, _ in job_rules(default).values():
        (permission,) = [
            p
            for p in default.resources("AWS::Lambda::Permission").values()
            if p["Properties"]["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}
        ]
        assert permission["Properties"] == {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        }
        (allow,) = [
            s
            for s in dlq_allows
            if render(s["Condition"]["ArnEquals"]["aws:SourceArn"]) == f"<{rule_id}.Arn>"
        ]
        assert allow["Action"] == "sqs:SendMessage"
        assert allow["Principal"] == {"Service": "events.amazonaws.com"}


# -- the synthesized patterns against real events, on EventBridge as moto runs it -----------


def documented(name: str, **detail: Any) -> dict[str, Any]:
    """AWS's documented example event, with real values for its placeholders."""
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    event["detail"] |= detail
    return event


@pytest.fixture
def bus(default: Synth, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The default bus with the stack's job rules, each delivering to a queue of its own.

    Returns a function that puts an event and says which rules' queues received it.
    """
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EVENTS", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        events, sqs = boto3.client("events"), boto3.client("sqs")
        queues = {}
        for kind, (_, rule) in job_rules(default).items():
            name = f"rule-{kind.option}"
            events.put_rule(Name=name, EventPattern=json.dumps(rule["Properties"]["EventPattern"]))
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            events.put_targets(
                Rule=name, Targets=[{"Id": "q", "Arn": arn["Attributes"]["QueueArn"]}]
            )
            queues[kind] = url

        def put(event: dict[str, Any]) -> set[contract.JobKind]:
            entry: PutEventsRequestEntryTypeDef = {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
            }
            assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
            received = set()
            for kind, url in queues.items():
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
                for message in messages.get("Messages", []):
                    assert json.loads(message["Body"])["detail"] == event["detail"]
                    received.add(kind)
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return received

        yield put


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED"])
def test_given_real_finished_events_then_each_kinds_rule_takes_its_own(
    bus: Any, status: str
) -> None:
    analytics = documented(
        "docs-call-analytics-job-state-change.json", JobName="call-1", JobStatus=status
    )
    transcription = documented(
        "docs-transcribe-job-state-change.json",
        TranscriptionJobName="dictation-1",
        TranscriptionJobStatus=status,
    )

    assert bus(analytics) == {contract.JobKind.CALL_ANALYTICS}
    assert bus(transcription) == {contract.JobKind.TRANSCRIPTION}


@pytest.mark.parametrize(
    "event",
    [
        documented("docs-call-analytics-job-state-change.json", JobStatus="IN_PROGRESS"),
        documented("docs-call-analytics-job-state-change.json", JobStatus="QUEUED"),
        documented("docs-transcribe-job-state-change.json", TranscriptionJobStatus="IN_PROGRESS"),
        # Streaming post-call analytics: no batch job to describe.
        documented("real-call-analytics-post-call-job-state-change.json"),
        documented("docs-call-analytics-post-call-job-state-change-failed.json"),
        documented("docs-vocabulary-state-change.json"),
    ],
    ids=[
        "analytics-in-progress",
        "analytics-queued",
        "transcription-in-progress",
        "post-call",
        "post-call-failed",
        "vocabulary",
    ],
)
def test_given_events_the_archiver_does_not_handle_then_no_rule_takes_them(
    bus: Any, event: dict[str, Any]
) -> None:
    assert bus(event) == set()

"""The delivery path: rule(s) with the contract's patterns -> encrypted queue -> mapping,
and the rules take the events Transcribe really sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from archiver import contract
from moto import mock_aws

from local_aws.transcribe.content import EVENTS_DIR
from tests.infra.conftest import (
    KMS_KEY_ARN,
    Synth,
    as_list,
    function_statements,
    render,
    synthesize,
)

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


def _rules(synth: Synth) -> dict[str, dict[str, Any]]:
    """The job-state rules (the sweep's schedule is another construct)."""
    return {
        logical_id: rule["Properties"]
        for logical_id, rule in synth.resources("AWS::Events::Rule").items()
        if "EventPattern" in rule["Properties"]
    }


def _queue(synth: Synth) -> tuple[str, dict[str, Any]]:
    queue_id, queue = synth.named("AWS::SQS::Queue", "JobStateChangeQueue")
    return queue_id, queue


def _queue_policy(synth: Synth, queue_id: str) -> list[dict[str, Any]]:
    (policy,) = [
        p
        for p in synth.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": queue_id} in p["Properties"]["Queues"]
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_given_every_configuration_then_one_rule_per_contract_pattern_on_default_bus(
    each: Synth,
) -> None:
    rules = _rules(each)

    assert sorted(
        (r["EventPattern"] for r in rules.values()), key=lambda p: str(p["detail-type"])
    ) == sorted(contract.EVENT_PATTERNS.values(), key=lambda p: str(p["detail-type"]))
    for rule in rules.values():
        assert rule["State"] == "ENABLED"
        # No EventBusName means the account's default bus, where aws.transcribe events arrive.
        assert "EventBusName" not in rule


def test_given_every_configuration_then_each_rule_targets_the_queue_with_dlq_and_retries(
    each: Synth,
) -> None:
    queue_id, _ = _queue(each)
    dlq_id = each.logical_id("AWS::SQS::Queue", "JobStateChangeTargetDeadLetterQueue")

    for rule in _rules(each).values():
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
        assert target["RetryPolicy"] == {
            "MaximumEventAgeInSeconds": 24 * 3600,
            "MaximumRetryAttempts": 185,
        }
    # Nothing invokes the function for job events any more: the queue does, via the mapping.
    function_id, _ = each.only("AWS::Lambda::Function")
    invokers = [
        p["Properties"].get("SourceArn")
        for p in each.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    sweep_id = each.logical_id("AWS::Events::Rule", "SweepRule")
    assert invokers == [{"Fn::GetAtt": [sweep_id, "Arn"]}]


def test_given_default_config_then_queue_is_encrypted_kept_14_days_and_outlasts_timeouts(
    default: Synth,
) -> None:
    _, queue = _queue(default)
    _, function = default.only("AWS::Lambda::Function")
    props = queue["Properties"]

    assert props["SqsManagedSseEnabled"] is True
    assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
    # Six times the function timeout, as AWS advises for SQS event sources.
    assert props["VisibilityTimeout"] == 6 * function["Properties"]["Timeout"] == 5400
    assert queue["DeletionPolicy"] == "Retain"


def test_given_kms_key_then_queue_and_its_dlqs_use_that_key(hardened: Synth) -> None:
    _, queue = _queue(hardened)
    dlq = hardened.named("AWS::SQS::Queue", "ArchiverOnFailureQueue")[1]
    target_dlq = hardened.named("AWS::SQS::Queue", "JobStateChangeTargetDeadLetterQueue")[1]

    for props in (queue["Properties"], dlq["Properties"], target_dlq["Properties"]):
        assert props["KmsMasterKeyId"] == KMS_KEY_ARN
        assert "SqsManagedSseEnabled" not in props


def test_given_every_configuration_then_queue_redrives_to_its_retained_dlq(each: Synth) -> None:
    _, queue = _queue(each)
    dlq_id, dlq = each.named("AWS::SQS::Queue", "ArchiverOnFailureQueue")

    assert queue["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": contract.QUEUE_MAX_RECEIVE_COUNT,
    }
    assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert dlq["DeletionPolicy"] == "Retain"


def test_given_every_configuration_then_only_this_stacks_rules_may_send_and_only_over_tls(
    each: Synth,
) -> None:
    rule_arns = [{"Fn::GetAtt": [rule_id, "Arn"]} for rule_id in _rules(each)]
    queues = [
        _queue(each)[0],
        each.logical_id("AWS::SQS::Queue", "JobStateChangeTargetDeadLetterQueue"),
    ]

    for queue_id in queues:
        statements = _queue_policy(each, queue_id)
        allows = [s for s in statements if s["Effect"] == "Allow"]
        # One SendMessage per rule, conditioned on that rule's ARN, with or without a key.
        assert len(allows) == len(rule_arns), queue_id
        assert sorted(str(s["Condition"]["ArnEquals"]["aws:SourceArn"]) for s in allows) == (
            sorted(str(arn) for arn in rule_arns)
        )
        for allow in allows:
            assert allow["Action"] == "sqs:SendMessage"
            assert allow["Principal"] == {"Service": "events.amazonaws.com"}
            assert allow["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        (deny,) = [s for s in statements if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Action"] == "sqs:*"


def test_given_every_configuration_then_mapping_feeds_function_in_small_partial_batches(
    each: Synth,
) -> None:
    queue_id, _ = _queue(each)
    function_id, _ = each.only("AWS::Lambda::Function")
    _, mapping = each.only("AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]

    assert props["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert props["FunctionName"] == {"Ref": function_id}
    assert props["BatchSize"] == contract.QUEUE_BATCH_SIZE <= 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"] == {"MaximumConcurrency": each.config.max_concurrency}
    assert props.get("Enabled", True) is True


def test_given_default_and_hardened_config_then_maximum_concurrency_follows_the_context(
    default: Synth, hardened: Synth
) -> None:
    for synth, expected in ((default, 5), (hardened, 8)):
        _, mapping = synth.only("AWS::Lambda::EventSourceMapping")
        assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": expected}


def test_given_every_configuration_then_the_role_may_only_consume_the_queue(
    each: Synth,
) -> None:
    queue_id, _ = _queue(each)
    sqs_statements = [
        s
        for s in function_statements(each)
        if any(a.startswith("sqs:") for a in as_list(s["Action"]))
    ]

    (consume,) = sqs_statements
    assert set(as_list(consume["Action"])) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert as_list(consume["Resource"]) == [{"Fn::GetAtt": [queue_id, "Arn"]}]


def test_given_every_configuration_then_the_mapping_waits_for_its_permissions(
    each: Synth,
) -> None:
    # Lambda checks the role when the mapping is created: the policy must exist first.
    _, mapping = each.only("AWS::Lambda::EventSourceMapping")
    queue_id, _ = _queue(each)
    granting = [
        policy_id
        for policy_id, policy in each.resources("AWS::IAM::Policy").items()
        if any(
            as_list(s["Resource"]) == [{"Fn::GetAtt": [queue_id, "Arn"]}]
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    ]

    assert len(granting) == 1
    assert granting[0] in mapping["DependsOn"]


def test_given_kms_key_then_the_role_may_decrypt_queue_messages_through_sqs_only(
    hardened: Synth, default: Synth
) -> None:
    decrypting = [
        s
        for s in function_statements(hardened)
        if as_list(s["Action"]) == ["kms:Decrypt"] and KMS_KEY_ARN in as_list(s["Resource"])
    ]

    (statement,) = decrypting
    assert render(statement["Condition"]["StringEquals"]["kms:ViaService"]) == (
        "sqs.<AWS::Region>.amazonaws.com"
    )
    assert not [s for s in function_statements(default) if "kms:Decrypt" in as_list(s["Action"])]


def test_given_a_second_event_pattern_then_it_gets_its_own_rule_into_the_same_queue(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Tomorrow's Call Analytics pattern: same queue, same DLQs, same retries.
    call_analytics = {
        "source": ["aws.transcribe"],
        "detail-type": ["Call Analytics Job State Change"],
        "detail": {"JobStatus": ["COMPLETED", "FAILED"]},
    }
    monkeypatch.setitem(
        contract.EVENT_PATTERNS,
        contract.JobKind.CALL_ANALYTICS,
        call_analytics,
    )
    synth = synthesize({}, tmp_path_factory.mktemp("two-patterns"))
    queue_id, _ = _queue(synth)
    rules = _rules(synth)

    assert sorted(str(r["EventPattern"]["detail-type"]) for r in rules.values()) == [
        "['Call Analytics Job State Change']",
        "['Transcribe Job State Change']",
    ]
    assert {str(r["Targets"][0]) for r in rules.values()} == {
        str(next(iter(rules.values()))["Targets"][0])
    }  # one identical target: queue, target DLQ, retry policy
    assert rules[synth.logical_id("AWS::Events::Rule", "JobStateChangeRule")]["EventPattern"] == (
        contract.TRANSCRIPTION_EVENT_PATTERN
    )
    allowed = {
        str(s["Condition"]["ArnEquals"]["aws:SourceArn"])
        for s in _queue_policy(synth, queue_id)
        if s["Effect"] == "Allow"
    }
    assert allowed == {str({"Fn::GetAtt": [rule_id, "Arn"]}) for rule_id in rules}


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

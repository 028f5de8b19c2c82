"""The default-bus rule: exactly the contract's pattern, to the archiver, with a DLQ."""

from __future__ import annotations

import pytest
from archiver import contract

from tests.infra.conftest import Synth, render

pytestmark = pytest.mark.infra


def test_given_every_configuration_then_rule_matches_contract_pattern_on_default_bus(
    each: Synth,
) -> None:
    _, rule = each.named("AWS::Events::Rule", "JobStateChangeRule")

    assert rule["Properties"]["EventPattern"] == contract.TRANSCRIPTION_EVENT_PATTERN
    assert rule["Properties"]["State"] == "ENABLED"
    # No EventBusName means the account's default bus, where aws.transcribe events arrive.
    assert "EventBusName" not in rule["Properties"]


def test_given_every_configuration_then_rule_targets_function_with_dlq_and_retries(
    each: Synth,
) -> None:
    _, rule = each.named("AWS::Events::Rule", "JobStateChangeRule")
    function_id, _ = each.only("AWS::Lambda::Function")
    dlq_id = each.logical_id("AWS::SQS::Queue", "JobStateChangeTargetDeadLetterQueue")

    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert target["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": 24 * 3600,
        "MaximumRetryAttempts": 185,
    }


def test_given_default_config_then_only_this_rule_may_invoke_or_fill_the_dlq(
    default: Synth,
) -> None:
    rule_id, _ = default.named("AWS::Events::Rule", "JobStateChangeRule")
    function_id, _ = default.only("AWS::Lambda::Function")
    dlq_id = default.logical_id("AWS::SQS::Queue", "JobStateChangeTargetDeadLetterQueue")

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
    dlq_allows = [
        statement
        for policy in default.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": dlq_id} in policy["Properties"]["Queues"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
    ]
    assert len(dlq_allows) == 1
    assert dlq_allows[0]["Action"] == "sqs:SendMessage"
    assert dlq_allows[0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert render(dlq_allows[0]["Condition"]["ArnEquals"]["aws:SourceArn"]) == (f"<{rule_id}.Arn>")

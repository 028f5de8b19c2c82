"""The sweep's schedule: a rate rule invoking the archiver with the sweep request."""

from __future__ import annotations

import json

import pytest
from archiver import contract

from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra


@pytest.mark.parametrize(
    ("fixture", "expression", "minutes"),
    [("default", "rate(15 minutes)", 15), ("hardened", "rate(1 hour)", 60)],
)
def test_given_a_schedule_then_the_rule_sends_the_sweep_request_with_one_period_of_overlap(
    request: pytest.FixtureRequest, fixture: str, expression: str, minutes: int
) -> None:
    synth: Synth = request.getfixturevalue(fixture)
    rule_id, rule = synth.named("AWS::Events::Rule", "SweepRule")
    function_id, _ = synth.only("AWS::Lambda::Function")

    assert rule["Properties"]["ScheduleExpression"] == expression
    assert rule["Properties"]["State"] == "ENABLED"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert json.loads(target["Input"]) == {
        "action": contract.SWEEP_ACTION,
        "overlapMinutes": minutes,
        "kinds": [kind.value for kind in contract.JobKind],
    }
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == minutes * 60
    permissions = [
        p["Properties"]
        for p in synth.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        }
    ]

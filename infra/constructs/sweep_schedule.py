"""The schedule that runs the sweep: a job whose event was lost waits one period at most."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from archiver.contract import SWEEP_ACTION, JobKind
from aws_cdk import CfnResource, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.scan_findings import suppress_findings

#: A missed sweep is made up by the next one (it reads from the stored watermark), so
#: EventBridge need not keep trying for long.
TARGET_RETRY_ATTEMPTS: Final = 2


class SweepSchedule(Construct):
    """A scheduled rule invoking the archiver with the sweep request every N minutes."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        minutes: int,
        kinds: Sequence[JobKind],
    ) -> None:
        super().__init__(scope, construct_id)
        period = Duration.minutes(minutes)
        self.rule = events.Rule(
            self,
            "Rule",
            description=(
                "Transcribe archiver sweep: archives finished jobs whose event never arrived"
            ),
            schedule=events.Schedule.rate(period),
            targets=[
                targets.LambdaFunction(
                    function,
                    # The overlap is one period: the sweep reads that far behind the last one.
                    # Only the deployment's kinds: a kind the region lacks would fail its
                    # listing on every sweep.
                    event=events.RuleTargetInput.from_object(
                        {
                            "action": SWEEP_ACTION,
                            "overlapMinutes": minutes,
                            "kinds": [kind.value for kind in kinds],
                        }
                    ),
                    max_event_age=period,
                    retry_attempts=TARGET_RETRY_ATTEMPTS,
                )
            ],
        )
        suppress_findings(
            self.rule,
            cfn_lint={
                "ES4000": (
                    "A lost sweep request costs nothing: the next scheduled sweep reads from "
                    "the stored watermark. A dead-letter queue would hold only requests that "
                    "say 'sweep', nothing to replay."
                )
            },
        )
        # The permission targets.LambdaFunction adds for this rule.
        permissions = [c for c in self.rule.node.find_all() if isinstance(c, CfnResource)]
        for permission in permissions:
            if permission.cfn_resource_type == "AWS::Lambda::Permission":
                suppress_findings(
                    permission,
                    cfn_lint={
                        "ES1007": (
                            "The schedule invokes the sweep asynchronously on purpose; a "
                            "failed sweep is retried twice, then made up by the next one. An "
                            "on-failure destination would collect bare sweep requests."
                        )
                    },
                )

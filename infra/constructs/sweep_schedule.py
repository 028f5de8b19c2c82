"""The schedule that runs the sweep: a job whose event was lost waits one period at most."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from archiver.contract import SWEEP_ACTION, JobKind
from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

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

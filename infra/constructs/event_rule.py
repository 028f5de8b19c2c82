"""The EventBridge rule that hands every finished Transcribe job to the archiver."""

from __future__ import annotations

from typing import Final

from archiver import contract
from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.dead_letter_queue import DeadLetterQueue

#: EventBridge's maximums: delivery to Lambda only fails when the Invoke API itself
#: refuses, and a missed event is a job that is never archived, so it keeps trying for a
#: day before parking the event in the target DLQ.
TARGET_MAX_EVENT_AGE: Final = Duration.hours(24)
TARGET_RETRY_ATTEMPTS: Final = 185


class JobStateChangeRule(Construct):
    """Default-bus rule matching the contract's event pattern, targeting the archiver."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        key: kms.IKey | None,
    ) -> None:
        super().__init__(scope, construct_id)
        pattern = contract.TRANSCRIPTION_EVENT_PATTERN
        unsupported = set(pattern) - {"source", "detail-type", "detail"}
        if unsupported:
            # EventPattern below copies these three fields; refuse to drop any other.
            raise ValueError(f"the event pattern has fields this rule ignores: {unsupported}")
        self.dead_letter_queue = DeadLetterQueue(self, "TargetDeadLetterQueue", key=key).queue
        self.rule = events.Rule(
            self,
            "Rule",
            description="Finished Amazon Transcribe jobs -> Transcribe archiver",
            event_pattern=events.EventPattern(
                source=pattern["source"],
                detail_type=pattern["detail-type"],
                detail=pattern["detail"],
            ),
            targets=[
                targets.LambdaFunction(
                    function,
                    dead_letter_queue=self.dead_letter_queue,
                    max_event_age=TARGET_MAX_EVENT_AGE,
                    retry_attempts=TARGET_RETRY_ATTEMPTS,
                )
            ],
        )

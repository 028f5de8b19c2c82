"""The EventBridge rules that hand every finished Transcribe job, of every kind, to the
archiver: one rule per pattern in the contract, all with the same target, DLQ and retries."""

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


#: Construct IDs of the rules; the transcription rule keeps the ID it always had, so an
#: update of a deployed stack does not replace it.
_RULE_IDS: Final = {contract.JobKind.TRANSCRIPTION: "Rule"}


class JobStateChangeRule(Construct):
    """Default-bus rules matching the contract's event patterns, targeting the archiver."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        key: kms.IKey | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = DeadLetterQueue(self, "TargetDeadLetterQueue", key=key).queue
        self.rules: dict[contract.JobKind, events.Rule] = {}
        for kind, pattern in contract.EVENT_PATTERNS.items():
            unsupported = set(pattern) - {"source", "detail-type", "detail"}
            if unsupported:
                # EventPattern below copies these three fields; refuse to drop any other.
                raise ValueError(f"the event pattern has fields this rule ignores: {unsupported}")
            self.rules[kind] = events.Rule(
                self,
                _RULE_IDS.get(kind, f"{kind.name.title().replace('_', '')}Rule"),
                description=f"Finished Amazon Transcribe {kind.option} jobs -> Transcribe archiver",
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

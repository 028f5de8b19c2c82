"""The delivery path: rule(s) on the default bus -> an SQS queue -> the archiver.

Every pattern of the contract, for the kinds the deployment takes (``jobKinds``), gets its
own rule; all of them put their events into one
queue, with one target DLQ for events EventBridge could not put there. An event source
mapping hands the queue to the function in small batches, at most ``maxConcurrency``
invocations at a time (which needs no reserved concurrency), with partial batch responses;
a message received ``QUEUE_MAX_RECEIVE_COUNT`` times moves to the dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import jsii
from archiver import contract
from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from infra.constructs.dead_letter_queue import (
    RETENTION,
    SQS_MANAGED_ENCRYPTION,
    DeadLetterQueue,
)
from infra.job_kinds import KIND_FACTS
from infra.scan_findings import suppress_findings

#: EventBridge's maximums: putting an event into the queue only fails when SQS itself
#: refuses (a key policy, a deleted queue), and a missed event is a job archived only by
#: the next sweep, so it keeps trying for a day before parking the event in the target DLQ.
TARGET_MAX_EVENT_AGE: Final = Duration.hours(24)
TARGET_RETRY_ATTEMPTS: Final = 185
#: AWS's advice for SQS event sources: six times the function timeout, so a batch does not
#: become visible again while an invocation (or Lambda's retry of a throttled one) holds it.
VISIBILITY_TIMEOUT_FACTOR: Final = 6
#: The first rule keeps the construct ID it had when it invoked the function directly, so
#: that an upgrade updates it in place.
_FIRST_RULE: Final = contract.JobKind.TRANSCRIPTION


class EventDelivery(Construct):
    """Default-bus rules for the contract's event patterns, a queue, and the mapping."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        function_timeout: Duration,
        dead_letter_queue: sqs.IQueue,
        max_concurrency: int,
        key: kms.IKey | None,
        kinds: Sequence[contract.JobKind],
    ) -> None:
        """``dead_letter_queue``: where messages go after their last receive; ``kinds``: the
        job kinds to subscribe to (those without an event get no rule: the sweep finds them)."""
        super().__init__(scope, construct_id)
        self.dead_letter_queue = dead_letter_queue
        self.target_dead_letter_queue = DeadLetterQueue(
            self, "TargetDeadLetterQueue", key=key
        ).queue
        self.visibility_timeout = Duration.seconds(
            function_timeout.to_seconds() * VISIBILITY_TIMEOUT_FACTOR
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            visibility_timeout=self.visibility_timeout,
            # Events wait days, not Lambda's 6 hours of asynchronous retries.
            retention_period=RETENTION,
            encryption=sqs.QueueEncryption.KMS if key else sqs.QueueEncryption.SQS_MANAGED,
            encryption_master_key=key,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=dead_letter_queue, max_receive_count=contract.QUEUE_MAX_RECEIVE_COUNT
            ),
            # It may hold events not yet archived.
            removal_policy=RemovalPolicy.RETAIN,
        )
        if key is None:
            suppress_findings(self.queue, checkov={"CKV_AWS_27": SQS_MANAGED_ENCRYPTION})
        self.rules = [
            self._rule(kind, pattern)
            for kind in kinds
            if (pattern := KIND_FACTS[kind].event_pattern) is not None
        ]
        self.mapping = self._mapping(function, max_concurrency, key)

    def _rule(self, kind: contract.JobKind, pattern: dict[str, Any]) -> events.Rule:
        unsupported = set(pattern) - {"source", "detail-type", "detail"}
        if unsupported:
            # EventPattern below copies these three fields; refuse to drop any other.
            raise ValueError(f"the event pattern has fields this rule ignores: {unsupported}")
        label = kind.value.title().replace("_", "")  # TRANSCRIPTION -> Transcription
        rule = events.Rule(
            self,
            "Rule" if kind is _FIRST_RULE else f"{label}Rule",
            description=f"Finished Amazon Transcribe {kind.option} jobs -> archiver queue",
            event_pattern=events.EventPattern(
                source=pattern["source"],
                detail_type=pattern["detail-type"],
                detail=pattern["detail"],
            ),
            targets=[_QueueTarget(self.queue, self.target_dead_letter_queue)],
        )
        # This rule, and only it, may send to the queue and to the target DLQ.
        for queue in (self.queue, self.target_dead_letter_queue):
            queue.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"SendFrom{label}Rule",
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=["sqs:SendMessage"],
                    resources=[queue.queue_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
                )
            )
        return rule

    def _mapping(
        self, function: lambda_.IFunction, max_concurrency: int, key: kms.IKey | None
    ) -> lambda_.EventSourceMapping:
        # Not SqsEventSource: its grantConsumeMessages also allows ChangeMessageVisibility
        # and GetQueueUrl, which the mapping never calls. The policy is the mapping's own,
        # so that CloudFormation creates it first (Lambda checks the role on creation).
        policy = iam.Policy(
            self,
            "ConsumePolicy",
            statements=[
                iam.PolicyStatement(
                    sid="ConsumeEventQueue",
                    actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                    resources=[self.queue.queue_arn],
                )
            ],
        )
        if key is not None:
            policy.add_statements(
                iam.PolicyStatement(
                    sid="DecryptEventQueue",
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"sqs.{Aws.REGION}.amazonaws.com"}
                    },
                )
            )
        if function.role is None:
            raise TypeError("the archiver function has no role to consume the queue with")
        policy.attach_to_role(function.role)
        mapping = lambda_.EventSourceMapping(
            self,
            "Mapping",
            target=function,
            event_source_arn=self.queue.queue_arn,
            batch_size=contract.QUEUE_BATCH_SIZE,
            max_concurrency=max_concurrency,
            report_batch_item_failures=True,
        )
        mapping.node.add_dependency(policy)
        suppress_findings(
            mapping,
            cfn_lint={
                "ES1001": (
                    "An SQS event source takes no on-failure destination: a message that "
                    "fails every receive moves to the queue's own dead-letter queue "
                    "(OnFailureDlqUrl), which is alarmed and replayable."
                )
            },
        )
        return mapping


@jsii.implements(events.IRuleTarget)
class _QueueTarget:
    """The rules' SQS target, which grants nothing by itself.

    The stock ``targets.SqsQueue`` lets EventBridge call SendMessage, GetQueueAttributes
    and GetQueueUrl and, on a KMS-encrypted queue, leaves out the rule's aws:SourceArn
    condition (any rule of the account could send). ``EventDelivery`` grants exactly
    SendMessage from each of its rules instead.
    """

    def __init__(self, queue: sqs.IQueue, dead_letter_queue: sqs.IQueue) -> None:
        self._queue = queue
        self._dead_letter_queue = dead_letter_queue

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(
            arn=self._queue.queue_arn,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(
                arn=self._dead_letter_queue.queue_arn
            ),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_event_age_in_seconds=int(TARGET_MAX_EVENT_AGE.to_seconds()),
                maximum_retry_attempts=TARGET_RETRY_ATTEMPTS,
            ),
        )

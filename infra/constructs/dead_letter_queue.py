"""An SQS queue that holds events the archiver could not process, for `replay`."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.scan_findings import suppress_findings

#: Why a queue without kmsKeyArn passes checkov's "encrypted" check in fact.
SQS_MANAGED_ENCRYPTION = (
    "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled); set kmsKeyArn for a "
    "customer-managed key."
)

#: SQS's maximum: the longest window an operator has to notice the alarm and replay.
RETENTION = Duration.days(14)


class DeadLetterQueue(Construct):
    """Encrypted, TLS-only, 14-day queue; retained on stack deletion (it may hold events)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey | None) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            retention_period=RETENTION,
            encryption=sqs.QueueEncryption.KMS if key else sqs.QueueEncryption.SQS_MANAGED,
            encryption_master_key=key,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        suppress_findings(
            self.queue,
            checkov={"CKV_AWS_27": SQS_MANAGED_ENCRYPTION} if key is None else None,
            cfn_lint={
                "ES6000": (
                    "This queue is a dead-letter queue itself: its messages are re-driven by "
                    "`transcribe-archiver replay`, and an alarm fires while any wait."
                )
            },
        )
        NagSuppressions.add_resource_suppressions(
            self.queue,
            [
                NagPackSuppression(
                    id="AwsSolutions-SQS3",
                    reason=(
                        "This queue is itself a dead-letter queue; its messages are re-driven "
                        "by `transcribe-archiver replay`, and an alarm fires while any wait."
                    ),
                )
            ],
        )

"""The Transcribe Archiver stack: composes the constructs and publishes what users need."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import ArchiverConfig
from infra.constructs.archive_storage import ArchiveStorage
from infra.constructs.archiver_function import TIMEOUT, ArchiverFunction
from infra.constructs.event_rule import JobStateChangeRule
from infra.constructs.monitoring import Monitoring
from infra.constructs.sweep_schedule import SweepSchedule


class ArchiverStack(Stack):
    """Event rule -> archiver function -> archive bucket + history table, with alarms."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: ArchiverConfig, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Transcribe Archiver: archives every finished Amazon Transcribe job",
            **kwargs,
        )
        self.config = config
        key = kms.Key.from_key_arn(self, "Key", config.kms_key_arn) if config.kms_key_arn else None

        self.storage = ArchiveStorage(self, "Storage", config=config, key=key)
        self.archiver = ArchiverFunction(
            self, "Archiver", config=config, storage=self.storage, key=key
        )
        self.rule = JobStateChangeRule(
            self, "JobStateChange", function=self.archiver.function, key=key
        )
        self.sweep = SweepSchedule(
            self, "Sweep", function=self.archiver.function, minutes=config.sweep_minutes
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            function=self.archiver.function,
            function_timeout=TIMEOUT,
            target_dead_letter_queue=self.rule.dead_letter_queue,
            on_failure_queue=self.archiver.on_failure_queue,
            key=key,
            alarm_email=config.alarm_email,
        )

        outputs = {
            "ArchiveBucketName": (self.storage.bucket.bucket_name, "ARCHIVE_BUCKET for the CLI"),
            "JobsTableName": (self.storage.table.table_name, "JOBS_TABLE for the CLI"),
            "ArchiverFunctionName": (self.archiver.function.function_name, "Archiver Lambda"),
            "TargetDlqUrl": (
                self.rule.dead_letter_queue.queue_url,
                "Events EventBridge could not deliver: replay --queue-url",
            ),
            "OnFailureDlqUrl": (
                self.archiver.on_failure_queue.queue_url,
                "Events the archiver failed after retries: replay --queue-url",
            ),
            "AlarmTopicArn": (self.monitoring.topic.topic_arn, "Subscribe to receive alarms"),
            "DashboardName": (
                self.monitoring.dashboard.dashboard_name,
                "CloudWatch dashboard",
            ),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)

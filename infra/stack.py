"""The Transcribe Archiver stack: composes the constructs and publishes what users need."""

from __future__ import annotations

import json
from typing import Any

from archiver import contract
from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import ArchiverConfig
from infra.constructs.archive_storage import ArchiveStorage
from infra.constructs.archiver_function import TIMEOUT, ArchiverFunction
from infra.constructs.event_rule import EventDelivery
from infra.constructs.monitoring import Monitoring
from infra.constructs.sweep_schedule import SweepSchedule


class ArchiverStack(Stack):
    """Event rules -> queue -> archiver function -> archive bucket + history table, alarms."""

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
        self.delivery = EventDelivery(
            self,
            "JobStateChange",
            function=self.archiver.function,
            function_timeout=TIMEOUT,
            dead_letter_queue=self.archiver.on_failure_queue,
            max_concurrency=config.max_concurrency,
            key=key,
            kinds=config.job_kinds,
        )
        self.sweep = SweepSchedule(
            self,
            "Sweep",
            function=self.archiver.function,
            minutes=config.sweep_minutes,
            kinds=config.job_kinds,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            function=self.archiver.function,
            function_timeout=TIMEOUT,
            event_queue=self.delivery.queue,
            event_queue_visibility=self.delivery.visibility_timeout,
            target_dead_letter_queue=self.delivery.target_dead_letter_queue,
            on_failure_queue=self.archiver.on_failure_queue,
            key=key,
            alarm_email=config.alarm_email,
        )

        outputs = {
            "ArchiveBucketName": (self.storage.bucket.bucket_name, "ARCHIVE_BUCKET for the CLI"),
            "JobsTableName": (self.storage.table.table_name, "JOBS_TABLE for the CLI"),
            "ArchiverFunctionName": (self.archiver.function.function_name, "Archiver Lambda"),
            "EventQueueUrl": (self.delivery.queue.queue_url, "Events waiting for the archiver"),
            "TargetDlqUrl": (
                self.delivery.target_dead_letter_queue.queue_url,
                "Events EventBridge could not put into the event queue: replay --queue-url",
            ),
            "OnFailureDlqUrl": (
                self.archiver.on_failure_queue.queue_url,
                "Events the archiver failed on every receive (the event queue DLQ): replay",
            ),
            contract.SETTINGS_OUTPUT: (
                json.dumps(ArchiverFunction.archiving_settings(config), sort_keys=True),
                "Where and what the archiver archives: backfill, sweep, replay and purge use it",
            ),
            "AlarmTopicArn": (self.monitoring.topic.topic_arn, "Subscribe to receive alarms"),
            "DashboardName": (
                self.monitoring.dashboard.dashboard_name,
                "CloudWatch dashboard",
            ),
        }
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)

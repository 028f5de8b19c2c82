"""Alarms that page someone, and a dashboard that shows what the archiver did."""

from __future__ import annotations

from typing import Final

from archiver import contract
from aws_cdk import ArnFormat, Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.scan_findings import suppress_findings

PERIOD: Final = Duration.minutes(5)
#: Alarm when one invocation takes this share of the function timeout: long outputs are
#: getting close to being cut off.
DURATION_ALARM_SHARE: Final = 0.8
#: Alarm when the oldest queued event has waited longer than this beyond one visibility
#: timeout. Healthy, the queue drains in seconds to minutes even after a burst of
#: thousands (the GetTranscriptionJob quota bounds it at about 30 jobs/s); a message whose
#: record failed once comes back after the visibility timeout and is then archived, which
#: must not page anyone. Older than this means an event failed twice, or nothing is taking
#: events off the queue at all (mapping disabled, key policy, account concurrency).
BACKLOG_MARGIN: Final = Duration.minutes(30)


def archiver_metric(name: str, statistic: str = "Sum") -> cloudwatch.Metric:
    """A metric the archiver emits through Powertools (which adds the service dimension)."""
    return cloudwatch.Metric(
        namespace=contract.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": contract.METRICS_SERVICE},
        statistic=statistic,
        period=PERIOD,
    )


class Monitoring(Construct):
    """SNS alarm topic, CloudWatch alarms on failures, and an operations dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        function_timeout: Duration,
        event_queue: sqs.IQueue,
        event_queue_visibility: Duration,
        target_dead_letter_queue: sqs.IQueue,
        on_failure_queue: sqs.IQueue,
        key: kms.IKey | None,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = self._alarm_topic(key)
        if alarm_email:
            subscription = self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
            suppress_findings(
                subscription,
                cfn_lint={
                    "ES7000": (
                        "An alarm e-mail SNS could not deliver is not lost: every alarm's "
                        "state is in CloudWatch and on the dashboard's alarm widget; a queue "
                        "of undelivered alarm mails would need an alarm of its own."
                    )
                },
            )

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarm(
            "TargetDeadLetterQueueNotEmpty",
            _queue_depth(target_dead_letter_queue),
            "EventBridge could not put events into the event queue; they wait in the target "
            "DLQ. Fix the cause (queue policy, KMS key policy), then run "
            "`transcribe-archiver replay --queue-url <TargetDlqUrl>`.",
        )
        self._alarm(
            "OnFailureQueueNotEmpty",
            _queue_depth(on_failure_queue),
            "The archiver failed a job on every receive; its event waits in the event "
            "queue's DLQ. Read the function logs and the run's ArchiveError, fix, then run "
            "`transcribe-archiver replay --queue-url <OnFailureDlqUrl>`.",
        )
        self._alarm(
            "FunctionErrors",
            function.metric_errors(period=PERIOD, statistic="Sum"),
            "An invocation crashed or timed out (a job that fails is reported, not raised): "
            "its batch comes back after the queue's visibility timeout. See the function "
            "logs and X-Ray traces.",
        )
        # Without reserved concurrency the function shares the account's pool; the queue
        # holds throttled batches, so only sustained throttling (15 minutes) is news.
        self._alarm(
            "FunctionThrottled",
            function.metric_throttles(period=PERIOD, statistic="Sum"),
            "The archiver has been throttled for 15 minutes: the account's concurrency is "
            "exhausted. Events wait in the queue (14 days); throttled batches come back "
            "later and count towards the DLQ. Raise the account's quota or set "
            "reservedConcurrency.",
            evaluation_periods=3,
        )
        self._alarm(
            "ArchiveErrors",
            archiver_metric(contract.Metric.ARCHIVE_ERRORS),
            "A job could not be archived (see the ArchiveError of its history item). "
            "Re-archive with `transcribe-archiver backfill --since <time>`.",
        )
        self._alarm(
            "JobsIncomplete",
            archiver_metric(contract.Metric.JOBS_INCOMPLETE),
            "A job run was recorded INCOMPLETE (a missing or refused output, a job deleted "
            "before archiving) although no invocation failed. Run "
            "`transcribe-archiver history list --since <time> --output json` and read the "
            "ArchiveError of the INCOMPLETE runs; fix the cause (sourceBuckets, "
            "sourceKmsKeyArns, MAX_OUTPUT_BYTES), then `transcribe-archiver backfill`.",
        )
        self._alarm(
            "SweepKindsFailed",
            archiver_metric(contract.Metric.SWEEP_KINDS_FAILED),
            "The sweep could not list one job kind (throttling that outlasted the retries, "
            "a kind the region does not offer, a missing permission); the other kinds were "
            "swept and this kind's floor was kept, so the next sweep reads the same window. "
            "The function's log names the kind and the error; in a region without a kind, "
            "leave it out of the jobKinds context key and redeploy.",
        )
        self._alarm(
            "SweepRunsFailed",
            archiver_metric(contract.Metric.SWEEP_RUNS_FAILED),
            "The sweep could not settle a job run this time (a fault, time ran out); the run "
            "holds the sweep's floor and is tried again by every scheduled sweep until it "
            "settles. The function's log names the run and the reason; "
            "`transcribe-archiver sweep --dry-run` lists what is pending.",
        )
        self._alarm(
            "EventsRejected",
            archiver_metric(contract.Metric.EVENTS_REJECTED),
            "Informational: the archiver received events it does not handle (wrong source, "
            "missing fields, other statuses) and dropped them. Check what sends to its queue "
            "or invokes the function besides the rules.",
        )
        backlog = event_queue_visibility.to_seconds() + BACKLOG_MARGIN.to_seconds()
        self._alarm(
            "EventQueueBacklog",
            event_queue.metric_approximate_age_of_oldest_message(
                period=PERIOD, statistic="Maximum"
            ),
            f"An event has waited in the event queue for over {backlog // 60:.0f} minutes: "
            "it failed more than once (see ArchiveErrors and the logs), or nothing takes "
            "events off the queue (event source mapping disabled, KMS key policy, account "
            "concurrency exhausted). Events are kept 14 days; the sweep archives the jobs "
            "meanwhile.",
            threshold=backlog,
        )
        timeout_ms = function_timeout.to_milliseconds()
        self._alarm(
            "DurationNearTimeout",
            function.metric_duration(period=PERIOD, statistic="Maximum"),
            "An invocation used over 80% of the function timeout; very long outputs may soon "
            "be cut off. Consider raising memorySize (faster network and CPU).",
            threshold=timeout_ms * DURATION_ALARM_SHARE,
        )

        self.dashboard = self._dashboard(
            function, event_queue, target_dead_letter_queue, on_failure_queue
        )

    def _alarm_topic(self, key: kms.IKey | None) -> sns.Topic:
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="Transcribe archiver alarms",
            enforce_ssl=True,
            # Not the AWS-managed alias/aws/sns key: its policy cannot allow
            # cloudwatch.amazonaws.com, so alarms would silently fail to publish.
            master_key=key,
        )
        if key is None:
            suppress_findings(
                topic,
                checkov={
                    "CKV_AWS_26": (
                        "CloudWatch alarms cannot publish to a topic encrypted with the "
                        "AWS-managed key alias/aws/sns (its key policy cannot allow "
                        "cloudwatch.amazonaws.com); with kmsKeyArn the topic uses that key."
                    )
                },
            )
        # The topic policy that enforce_ssl creates replaces SNS's default one, so alarms
        # from this account need an explicit allow.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": Stack.of(self).format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        return topic

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        description: str,
        *,
        threshold: float = 0,
        evaluation_periods: int = 1,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        action = cloudwatch_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        # Tell the same people when it recovers.
        alarm.add_ok_action(action)
        self.alarms[construct_id] = alarm

    def _dashboard(
        self,
        function: lambda_.Function,
        event_queue: sqs.IQueue,
        target_dead_letter_queue: sqs.IQueue,
        on_failure_queue: sqs.IQueue,
    ) -> cloudwatch.Dashboard:
        latency = contract.Metric.ARCHIVE_LATENCY
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            # Dashboard names are unique per account across regions.
            dashboard_name=f"{Stack.of(self).stack_name}-{Stack.of(self).region}",
            default_interval=Duration.days(1),
        )
        dashboard.add_widgets(
            _graph(
                "Jobs",
                [
                    archiver_metric(contract.Metric.JOBS_ARCHIVED),
                    archiver_metric(contract.Metric.JOBS_INCOMPLETE),
                    archiver_metric(contract.Metric.JOBS_FAILED_AT_TRANSCRIBE),
                    archiver_metric(contract.Metric.DUPLICATES_SKIPPED),
                    archiver_metric(contract.Metric.JOBS_RECOVERED_BY_SWEEP),
                ],
            ),
            _graph(
                "Problems",
                [
                    archiver_metric(contract.Metric.ARCHIVE_ERRORS),
                    archiver_metric(contract.Metric.EVENTS_REJECTED),
                    archiver_metric(contract.Metric.LINKS_REFRESHED),
                    archiver_metric(contract.Metric.SWEEP_KINDS_FAILED),
                    archiver_metric(contract.Metric.SWEEP_RUNS_FAILED),
                ],
            ),
            _graph("Bytes archived", [archiver_metric(contract.Metric.BYTES_ARCHIVED)]),
            _graph(
                "Seconds from job completion to archived",
                [
                    archiver_metric(latency, "p50").with_(label="p50"),
                    archiver_metric(latency, "p99").with_(label="p99"),
                    archiver_metric(latency, "Maximum").with_(label="max"),
                ],
            ),
        )
        dashboard.add_widgets(
            _graph(
                "Event queue (messages)",
                [
                    _queue_depth(event_queue).with_(label="waiting"),
                    event_queue.metric_approximate_number_of_messages_not_visible(
                        period=PERIOD, statistic="Maximum"
                    ).with_(label="being archived or waiting for a retry"),
                ],
            ),
            _graph(
                "Event queue: age of the oldest event (s)",
                [
                    event_queue.metric_approximate_age_of_oldest_message(
                        period=PERIOD, statistic="Maximum"
                    )
                ],
            ),
            _graph(
                "Dead-letter queues (messages waiting)",
                [
                    _queue_depth(target_dead_letter_queue).with_(label="Target DLQ"),
                    _queue_depth(on_failure_queue).with_(label="Event queue's DLQ"),
                ],
            ),
            _graph(
                "Function invocations",
                [
                    function.metric_invocations(period=PERIOD, statistic="Sum"),
                    function.metric_errors(period=PERIOD, statistic="Sum"),
                    function.metric_throttles(period=PERIOD, statistic="Sum"),
                ],
            ),
            _graph(
                "Function duration (ms)",
                [
                    function.metric_duration(period=PERIOD, statistic=stat).with_(label=stat)
                    for stat in ("p50", "p99", "Maximum")
                ],
            ),
            _graph(
                "Concurrent executions",
                [function.metric("ConcurrentExecutions", period=PERIOD, statistic="Maximum")],
            ),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=24
            )
        )
        return dashboard


def _queue_depth(queue: sqs.IQueue) -> cloudwatch.Metric:
    return queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum")


def _graph(title: str, metrics: list[cloudwatch.Metric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=6)

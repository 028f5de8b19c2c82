"""Alarms reach the topic; the dashboard shows every archiver metric; outputs are published."""

from __future__ import annotations

import json
from typing import Any

import pytest
from archiver import contract

from tests.infra.conftest import Synth, render

pytestmark = pytest.mark.infra

ARCHIVER_DIMENSIONS = [{"Name": "service", "Value": contract.METRICS_SERVICE}]


def _alarms(synth: Synth) -> list[dict[str, Any]]:
    return [alarm["Properties"] for alarm in synth.resources("AWS::CloudWatch::Alarm").values()]


def _alarm_on(synth: Synth, namespace: str, metric: str, dimensions: Any) -> dict[str, Any]:
    matches = [
        alarm
        for alarm in _alarms(synth)
        if alarm["Namespace"] == namespace
        and alarm["MetricName"] == metric
        and alarm["Dimensions"] == dimensions
    ]
    assert len(matches) == 1, f"alarms on {namespace}/{metric} {dimensions}: {len(matches)}"
    return matches[0]


def _expected_alarms(synth: Synth) -> list[tuple[str, str, Any]]:
    function_id, _ = synth.only("AWS::Lambda::Function")
    on_function = [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    queues = [
        synth.logical_id("AWS::SQS::Queue", "JobStateChangeTargetDeadLetterQueue"),
        synth.logical_id("AWS::SQS::Queue", "ArchiverOnFailureQueue"),
    ]
    event_queue = synth.logical_id("AWS::SQS::Queue", "JobStateChangeQueue")
    return [
        (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": [event_queue, "QueueName"]}}],
        ),
        *[
            (
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
            )
            for queue in queues
        ],
        ("AWS/Lambda", "Errors", on_function),
        ("AWS/Lambda", "Throttles", on_function),
        ("AWS/Lambda", "Duration", on_function),
        (contract.METRICS_NAMESPACE, contract.Metric.ARCHIVE_ERRORS, ARCHIVER_DIMENSIONS),
        (contract.METRICS_NAMESPACE, contract.Metric.JOBS_INCOMPLETE, ARCHIVER_DIMENSIONS),
        (contract.METRICS_NAMESPACE, contract.Metric.EVENTS_REJECTED, ARCHIVER_DIMENSIONS),
        (contract.METRICS_NAMESPACE, contract.Metric.SWEEP_KINDS_FAILED, ARCHIVER_DIMENSIONS),
        (contract.METRICS_NAMESPACE, contract.Metric.SWEEP_RUNS_FAILED, ARCHIVER_DIMENSIONS),
    ]


def test_given_every_configuration_then_each_failure_signal_alarms_to_the_topic(
    each: Synth,
) -> None:
    topic_id, _ = each.only("AWS::SNS::Topic")
    expected = _expected_alarms(each)

    assert len(_alarms(each)) == len(expected)
    for namespace, metric, dimensions in expected:
        alarm = _alarm_on(each, namespace, metric, dimensions)
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], metric
        assert alarm["OKActions"] == [{"Ref": topic_id}], metric
        assert alarm["TreatMissingData"] == "notBreaching", metric
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", metric
        assert alarm["AlarmDescription"], metric


def test_given_default_config_then_any_dlq_message_or_error_alarms_at_once(
    default: Synth,
) -> None:
    for namespace, metric, dimensions in _expected_alarms(default):
        alarm = _alarm_on(default, namespace, metric, dimensions)
        if metric == "Duration":
            # 80% of the 15-minute timeout.
            assert alarm["Threshold"] == 720_000
            assert alarm["Statistic"] == "Maximum"
            continue
        if metric == "ApproximateAgeOfOldestMessage":
            continue  # its own test below
        assert alarm["Threshold"] == 0, metric
        if metric == "Throttles":
            # Bursts are throttled by design; only 15 sustained minutes page someone.
            assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 3)
        else:
            assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1), metric
        expected_statistic = "Maximum" if namespace == "AWS/SQS" else "Sum"
        assert alarm["Statistic"] == expected_statistic, metric


def test_given_default_config_then_an_event_waiting_beyond_one_retry_cycle_alarms(
    default: Synth,
) -> None:
    queue_id, queue = default.named("AWS::SQS::Queue", "JobStateChangeQueue")
    alarm = _alarm_on(
        default,
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
    )
    visibility = queue["Properties"]["VisibilityTimeout"]

    # A record that failed once is back after one visibility timeout (90 minutes) and
    # must not page anyone; one that failed twice, or a queue nobody reads, does.
    assert alarm["Threshold"] == visibility + 30 * 60 == 2 * 3600
    assert alarm["Statistic"] == "Maximum"
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1)


def test_given_no_alarm_email_then_topic_has_no_subscription(
    default: Synth, adopted: Synth
) -> None:
    default.template.resource_count_is("AWS::SNS::Subscription", 0)
    adopted.template.resource_count_is("AWS::SNS::Subscription", 0)


def test_given_alarm_email_then_it_is_subscribed_to_the_topic(hardened: Synth) -> None:
    topic_id, _ = hardened.only("AWS::SNS::Topic")
    _, subscription = hardened.only("AWS::SNS::Subscription")

    assert subscription["Properties"] == {
        "Protocol": "email",
        "Endpoint": "transcribe-ops@example.com",
        "TopicArn": {"Ref": topic_id},
    }


def test_given_every_configuration_then_cloudwatch_may_publish_and_only_over_tls(
    each: Synth,
) -> None:
    topic_id, _ = each.only("AWS::SNS::Topic")
    _, policy = each.only("AWS::SNS::TopicPolicy")
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}

    allow = statements["AllowCloudWatchAlarms"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic_id}
    assert render(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == (
        "arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*"
    )
    tls = statements["AllowPublishThroughSSLOnly"]
    assert tls["Effect"] == "Deny"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def _dashboard_metrics(synth: Synth) -> list[tuple[str, str, str]]:
    """(namespace, metric, statistic) of every graph line on the dashboard."""
    _, dashboard = synth.only("AWS::CloudWatch::Dashboard")
    body = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    lines = []
    for widget in body["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            namespace, name, *_, options = metric
            lines.append((namespace, name, options["stat"]))
    return lines


def test_given_every_configuration_then_dashboard_shows_every_archiver_metric(
    each: Synth,
) -> None:
    _, dashboard = each.only("AWS::CloudWatch::Dashboard")
    lines = _dashboard_metrics(each)
    archiver_lines = {(name, stat) for ns, name, stat in lines if ns == contract.METRICS_NAMESPACE}
    metric_names = [str(m) for m in contract.Metric]

    assert render(dashboard["Properties"]["DashboardName"]) == (
        f"{each.config.stack_name}-<AWS::Region>"
    )
    assert len(metric_names) == 12
    for metric in set(metric_names) - {contract.Metric.ARCHIVE_LATENCY}:
        assert (metric, "Sum") in archiver_lines, metric
    for stat in ("p50", "p99", "Maximum"):
        assert (contract.Metric.ARCHIVE_LATENCY, stat) in archiver_lines, stat
    assert {(ns, name) for ns, name, _ in lines} >= {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/Lambda", "Invocations"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Lambda", "ConcurrentExecutions"),
    }
    # The event queue and its two dead-letter queues.
    assert lines.count(("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")) == 3


def test_given_every_configuration_then_outputs_name_what_operators_need(each: Synth) -> None:
    outputs = each.json["Outputs"]
    bucket = (
        each.config.archive_bucket_name
        or f"<{each.logical_id('AWS::S3::Bucket', 'StorageArchive')}>"
    )
    dashboard_id, _ = each.only("AWS::CloudWatch::Dashboard")
    rendered = {name: render(output["Value"]) for name, output in outputs.items()}

    assert set(rendered) == {
        "ArchiveBucketName",
        "JobsTableName",
        "ArchiverFunctionName",
        "EventQueueUrl",
        "TargetDlqUrl",
        "OnFailureDlqUrl",
        "AlarmTopicArn",
        "DashboardName",
        contract.SETTINGS_OUTPUT,
    }
    assert rendered["ArchiveBucketName"] == bucket
    # What the CLI needs to archive as the function does: the function's own settings.
    _, function = each.only("AWS::Lambda::Function")
    environment = function["Properties"]["Environment"]["Variables"]
    settings = json.loads(outputs[contract.SETTINGS_OUTPUT]["Value"])
    assert settings == {k: environment[k] for k in settings}
    assert set(settings) >= {
        contract.ENV_ARCHIVE_PREFIX,
        contract.ENV_CALL_ANALYTICS_PREFIX,
        contract.ENV_MEDICAL_PREFIX,
        contract.ENV_MEDICAL_SCRIBE_PREFIX,
        contract.ENV_ARCHIVE_UNREDACTED,
        contract.ENV_MAX_OUTPUT_BYTES,
    }
    assert rendered["ArchiverFunctionName"] == f"<{each.only('AWS::Lambda::Function')[0]}>"
    assert (
        rendered["EventQueueUrl"]
        == f"<{each.logical_id('AWS::SQS::Queue', 'JobStateChangeQueue')}>"
    )
    assert rendered["TargetDlqUrl"] == (
        f"<{each.logical_id('AWS::SQS::Queue', 'JobStateChangeTargetDeadLetterQueue')}>"
    )
    assert rendered["OnFailureDlqUrl"] == (
        f"<{each.logical_id('AWS::SQS::Queue', 'ArchiverOnFailureQueue')}>"
    )
    assert rendered["AlarmTopicArn"] == f"<{each.only('AWS::SNS::Topic')[0]}>"
    assert rendered["DashboardName"] == f"<{dashboard_id}>"

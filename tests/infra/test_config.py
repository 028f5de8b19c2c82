"""CDK context validation: good values parse, bad ones stop the synth naming the key."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest

from infra.config import (
    DEFAULT_POWERTOOLS_VERSION,
    LOG_RETENTION_DAYS_ALLOWED,
    ArchiverConfig,
    ConfigError,
    cdk_json_context,
)
from infra.constructs.archiver_function import retention_days
from tests.infra.conftest import KMS_KEY_ARN, ROOT

pytestmark = pytest.mark.infra


def test_given_committed_cdk_json_when_read_then_it_equals_the_code_defaults() -> None:
    # cdk.json shows users the defaults; the two must not disagree.
    assert ArchiverConfig.from_mapping(cdk_json_context(ROOT / "cdk.json")) == ArchiverConfig()


def test_given_nothing_when_read_then_defaults_apply() -> None:
    config = ArchiverConfig.from_mapping({})

    assert config.stack_name == "TranscribeArchiver"
    assert config.archive_prefix == "transcripts/"
    assert config.call_analytics_prefix == "call-analytics/"
    assert config.medical_prefix == "medical/"
    assert config.medical_scribe_prefix == "medical-scribe/"
    assert config.archive_bucket_name is None
    assert config.jobs_table_name is None
    assert config.source_buckets == ()
    assert config.kms_key_arn is None
    assert config.archive_unredacted is True
    assert config.alarm_email is None
    assert config.reserved_concurrency is None  # opt-in: deploys into any account
    assert config.max_concurrency == 5
    assert config.memory_size == 512
    assert config.log_retention_days == 365
    assert config.transition_to_glacier_after_days is None
    assert config.powertools_version == DEFAULT_POWERTOOLS_VERSION
    assert config.powertools_layer_arn is None


def test_given_command_line_strings_when_read_then_they_are_typed() -> None:
    config = ArchiverConfig.from_mapping(
        {
            "archiveUnredacted": "FALSE",
            "reservedConcurrency": "25",
            "maxConcurrency": "25",
            "memorySize": "2048",
            "logRetentionDays": "731",
            "transitionToGlacierAfterDays": "30",
            "sourceBuckets": " out-a ,out-b,,out-a ",
            "archiveBucketName": "team-archive",
            "jobsTableName": "Transcribe.Jobs-1",
            "kmsKeyArn": KMS_KEY_ARN,
            "alarmEmail": "ops@example.com",
        }
    )

    assert config.archive_unredacted is False
    assert config.reserved_concurrency == 25
    assert config.max_concurrency == 25
    assert config.memory_size == 2048
    assert config.log_retention_days == 731
    assert config.transition_to_glacier_after_days == 30
    assert config.source_buckets == ("out-a", "out-b")
    assert config.adopts_bucket
    assert config.adopts_table
    assert config.kms_key_arn == KMS_KEY_ARN
    assert config.alarm_email == "ops@example.com"


def test_given_json_list_and_empty_strings_when_read_then_list_kept_and_blanks_unset() -> None:
    config = ArchiverConfig.from_mapping(
        {"sourceBuckets": ["out-a", "out.b"], "kmsKeyArn": "", "alarmEmail": "  ", "stackName": ""}
    )

    assert config.source_buckets == ("out-a", "out.b")
    assert config.kms_key_arn is None
    assert config.alarm_email is None
    assert config.stack_name == "TranscribeArchiver"


def test_given_app_context_when_read_from_node_then_cli_values_win() -> None:
    app = cdk.App(
        context={"archivePrefix": "calls/2026/", "reservedConcurrency": "4", "maxConcurrency": 3}
    )

    config = ArchiverConfig.from_context(app.node)

    assert config.archive_prefix == "calls/2026/"
    assert config.reserved_concurrency == 4
    assert config.max_concurrency == 3


BAD_VALUES: list[tuple[str, Any, str]] = [
    ("archivePrefix", "/transcripts/", "must not start with '/'"),
    ("archivePrefix", "transcripts", "must end with '/'"),
    ("archivePrefix", "a//b/", "segments"),
    ("archivePrefix", "a/../b/", "segments"),
    ("archivePrefix", "jobs*/", "no '*'"),
    ("archivePrefix", 42, "must be a string"),
    ("callAnalyticsPrefix", "calls", "must end with '/'"),
    ("callAnalyticsPrefix", "/calls/", "must not start with '/'"),
    ("callAnalyticsPrefix", "calls?/", "no '*' or '?'"),
    # One kind's folders inside the other's: a purge of one would reach the other.
    ("callAnalyticsPrefix", "transcripts/", "neither contain nor lie inside archivePrefix"),
    ("callAnalyticsPrefix", "transcripts/calls/", "neither contain nor lie inside"),
    ("medicalPrefix", "medical", "must end with '/'"),
    ("medicalPrefix", "/medical/", "must not start with '/'"),
    ("medicalPrefix", "medical*/", "no '*' or '?'"),
    ("medicalPrefix", "transcripts/medical/", "neither contain nor lie inside archivePrefix"),
    ("medicalPrefix", "call-analytics/", "neither contain nor lie inside callAnalyticsPrefix"),
    ("medicalScribePrefix", "medical/scribe/", "neither contain nor lie inside medicalPrefix"),
    ("medicalScribePrefix", "a/./b/", "segments"),
    ("medicalScribePrefix", 7, "must be a string"),
    ("logRetentionDays", 42, "one of CloudWatch's values"),
    ("logRetentionDays", "forever", "whole number"),
    ("logRetentionDays", 0, "at least 1"),
    ("kmsKeyArn", "alias/archive", "KMS key ARN"),
    ("kmsKeyArn", "arn:aws:kms:eu-west-1:123456789012:alias/archive", "KMS key ARN"),
    ("kmsKeyArn", "arn:aws:kms:eu-west-1:1234:key/1234abcd-12ab-34cd-56ef-1234567890ab", "KMS"),
    ("alarmEmail", "ops.example.com", "email address"),
    ("alarmEmail", "ops@example", "email address"),
    ("reservedConcurrency", 0, "at least 2"),
    ("reservedConcurrency", "-3", "at least 2"),
    ("reservedConcurrency", 1, "at least 2"),
    ("reservedConcurrency", "ten", "whole number"),
    ("reservedConcurrency", True, "whole number"),
    ("reservedConcurrency", 2.5, "whole number"),
    ("maxConcurrency", 1, "at least 2"),
    ("maxConcurrency", "1001", "at most 1000"),
    ("maxConcurrency", "five", "whole number"),
    ("maxConcurrency", False, "whole number"),
    ("memorySize", 64, "at least 128"),
    ("memorySize", 20480, "at most 10240"),
    ("transitionToGlacierAfterDays", 0, "at least 1"),
    ("archiveBucketName", "Team_Archive", "lowercase"),
    ("archiveBucketName", "ab", "3-63"),
    ("archiveBucketName", "192.168.10.20", "IP address"),
    ("archiveBucketName", "team..archive", "'..'"),
    ("archiveBucketName", "xn--archive", "must not start"),
    ("archiveBucketName", "archive-s3alias", "must not end"),
    ("sourceBuckets", "good-bucket,Bad_Bucket", "'Bad_Bucket'"),
    ("sourceBuckets", {"bucket": "x"}, "list of bucket names"),
    ("sourceBuckets", ["ok-bucket", 7], "list of bucket names"),
    ("jobsTableName", "ab", "3-255"),
    ("jobsTableName", "jobs table", "3-255"),
    ("stackName", "1Archiver", "start with a letter"),
    ("stackName", "Archiver_Prod", "start with a letter"),
    ("archiveUnredacted", "yes", "true or false"),
    ("powertoolsVersion", "v3", "version like"),
    ("powertoolsLayerArn", "AWSLambdaPowertoolsPythonV3:27", "layer version ARN"),
    ("sourceKmsKeyArns", "alias/team-key", "KMS key ARN"),
    ("sourceKmsKeyArns", {"key": "x"}, "list of KMS key ARNs"),
    ("sweepSchedule", 2, "5-1440"),
    ("sweepSchedule", "rate(30 seconds)", "rate("),
    ("sweepSchedule", "cron(0 * * * ? *)", "rate("),
    ("sweepSchedule", "rate(2 days)", "5-1440"),
    ("sweepSchedule", True, "minutes"),
    ("objectLockMode", "LEGAL_HOLD", "GOVERNANCE or COMPLIANCE"),
    ("objectLockDays", 0, "at least 1"),
    ("objectLockDays", 40000, "at most 36500"),
    ("unredactedRetentionDays", "two weeks", "whole number"),
    ("noncurrentVersionRetentionDays", 0, "at least 1"),
    ("historyRetentionDays", -5, "at least 1"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD_VALUES)
def test_given_bad_value_when_read_then_config_error_names_key_and_problem(
    key: str, value: Any, expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        ArchiverConfig.from_mapping({key: value})

    assert isinstance(raised.value, ValueError)
    assert raised.value.key == key
    message = str(raised.value)
    assert f"'{key}'" in message
    assert expected in message
    assert repr(value) in message


@pytest.mark.parametrize(
    ("context", "reserved", "maximum"),
    [
        ({"reservedConcurrency": 20}, 20, 5),  # the default maxConcurrency fits
        ({"reservedConcurrency": "7", "maxConcurrency": "7"}, 7, 7),
        ({"maxConcurrency": 1000}, None, 1000),  # no reservation: nothing to exceed
    ],
)
def test_given_a_queue_maximum_inside_the_reservation_then_both_are_kept(
    context: dict[str, Any], reserved: int | None, maximum: int
) -> None:
    config = ArchiverConfig.from_mapping(context)

    assert (config.reserved_concurrency, config.max_concurrency) == (reserved, maximum)


@pytest.mark.parametrize(
    "context",
    [
        {"reservedConcurrency": "4"},  # below the default maxConcurrency of 5
        {"reservedConcurrency": 10, "maxConcurrency": 11},
    ],
)
def test_given_a_queue_maximum_beyond_the_reservation_then_the_synth_stops_naming_both(
    context: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError) as raised:
        ArchiverConfig.from_mapping(context)

    assert raised.value.key == "maxConcurrency"
    assert "'maxConcurrency' must not exceed 'reservedConcurrency'" in str(raised.value)


def test_given_bad_value_in_app_context_when_read_then_it_raises_before_any_resource() -> None:
    app = cdk.App(context={"logRetentionDays": "400x"})

    with pytest.raises(ConfigError, match="'logRetentionDays' must be a whole number"):
        ArchiverConfig.from_context(app.node)


@pytest.mark.parametrize("days", sorted(LOG_RETENTION_DAYS_ALLOWED))
def test_given_each_accepted_retention_then_the_log_group_can_express_it(days: int) -> None:
    config = ArchiverConfig.from_mapping({"logRetentionDays": days})

    assert retention_days(config.log_retention_days).name


@pytest.mark.parametrize(
    ("value", "minutes"),
    [(15, 15), ("30", 30), ("rate(1 hour)", 60), ("rate(45 minutes)", 45), ("rate(1 day)", 1440)],
)
def test_given_a_sweep_schedule_then_it_is_read_as_minutes(value: Any, minutes: int) -> None:
    assert ArchiverConfig.from_mapping({"sweepSchedule": value}).sweep_minutes == minutes


def test_given_source_kms_keys_as_a_string_or_list_then_they_are_kept_once_each() -> None:
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert ArchiverConfig.from_mapping(
        {"sourceKmsKeyArns": f"{key}, {key}"}
    ).source_kms_key_arns == (key,)
    assert ArchiverConfig.from_mapping({"sourceKmsKeyArns": [key]}).source_kms_key_arns == (key,)


def test_given_medical_prefixes_then_each_is_kept_beside_the_others() -> None:
    config = ArchiverConfig.from_mapping(
        {"medicalPrefix": "clinic/dictations/", "medicalScribePrefix": "clinic/notes/"}
    )
    assert (config.medical_prefix, config.medical_scribe_prefix) == (
        "clinic/dictations/",
        "clinic/notes/",
    )

    # The key named is the later one of the pair; the message names the other.
    with pytest.raises(ConfigError, match="'medicalScribePrefix' must neither contain") as bad:
        ArchiverConfig.from_mapping({"medicalScribePrefix": "transcripts/"})
    assert "archivePrefix 'transcripts/'" in str(bad.value)
    with pytest.raises(ConfigError, match="'medicalPrefix' must neither contain"):
        ArchiverConfig.from_mapping({"archivePrefix": "medical/", "medicalPrefix": "medical/x/"})


def test_given_a_call_analytics_prefix_then_it_is_kept_beside_the_archive_prefix() -> None:
    config = ArchiverConfig.from_mapping(
        {"archivePrefix": "archive/v1/transcripts/", "callAnalyticsPrefix": "archive/v1/calls/"}
    )
    assert config.call_analytics_prefix == "archive/v1/calls/"

    with pytest.raises(ConfigError, match="'callAnalyticsPrefix' must neither contain"):
        ArchiverConfig.from_mapping({"archivePrefix": "call-analytics/old/"})


@pytest.mark.parametrize(
    ("context", "key", "problem"),
    [
        ({"objectLockMode": "COMPLIANCE"}, "objectLockDays", "together with objectLockMode"),
        ({"objectLockDays": 30}, "objectLockMode", "together with objectLockDays"),
        (
            {"objectLockMode": "GOVERNANCE", "objectLockDays": 30, "archiveBucketName": "team-a"},
            "objectLockMode",
            "archiveBucketName",
        ),
        (
            {"historyRetentionDays": 30, "jobsTableName": "Jobs"},
            "historyRetentionDays",
            "jobsTableName",
        ),
    ],
)
def test_given_settings_that_do_not_go_together_then_the_synth_stops_naming_the_key(
    context: dict[str, Any], key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        ArchiverConfig.from_mapping(context)
    assert raised.value.key == key
    assert problem in str(raised.value)

"""The archiver function: runtime, limits, environment, layer, logs and async invocations."""

from __future__ import annotations

from typing import Any

import pytest
from archiver import contract

from tests.infra.conftest import KMS_KEY_ARN, LAYER_ARN, ROOT, Synth, render

pytestmark = pytest.mark.infra

CONTRACT_VARIABLES = {
    "ARCHIVE_BUCKET",
    "ARCHIVE_PREFIX",
    "JOBS_TABLE",
    "ARCHIVE_UNREDACTED",
    "ALLOWED_SOURCE_HOSTS",
    "MAX_OUTPUT_BYTES",
    "CALL_ANALYTICS_PREFIX",
    # Optional (their defaults work); the stack sets them so a context key reaches the function.
    "MEDICAL_PREFIX",
    "MEDICAL_SCRIBE_PREFIX",
}
POWERTOOLS_VARIABLES = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
}


def _function(synth: Synth) -> tuple[str, dict[str, Any]]:
    function_id, function = synth.only("AWS::Lambda::Function")
    return function_id, function["Properties"]


def test_given_default_config_then_function_runs_current_python_with_room_for_long_jobs(
    default: Synth,
) -> None:
    _, props = _function(default)

    assert props["Runtime"] in {"python3.12", "python3.13", "python3.14"}
    assert props["Handler"] == "archiver.handler.handler"
    assert props["Timeout"] >= 300
    assert props["Timeout"] == 900
    assert props["MemorySize"] == 512
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Architectures"] == ["arm64"]
    # No reserved concurrency: the stack deploys into accounts with a quota of 10.
    assert "ReservedConcurrentExecutions" not in props


def test_given_default_config_then_environment_is_exactly_the_contract(default: Synth) -> None:
    bucket_id = default.logical_id("AWS::S3::Bucket", "StorageArchive")
    table_id, _ = default.only("AWS::DynamoDB::Table")
    _, props = _function(default)

    assert props["Environment"]["Variables"] == {
        "ARCHIVE_BUCKET": {"Ref": bucket_id},
        "ARCHIVE_PREFIX": "transcripts/",
        "JOBS_TABLE": {"Ref": table_id},
        "ARCHIVE_UNREDACTED": "true",
        "ALLOWED_SOURCE_HOSTS": "",
        "MAX_OUTPUT_BYTES": "5368709120",
        "CALL_ANALYTICS_PREFIX": "call-analytics/",
        "MEDICAL_PREFIX": "medical/",
        "MEDICAL_SCRIBE_PREFIX": "medical-scribe/",
        "POWERTOOLS_SERVICE_NAME": contract.METRICS_SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": contract.METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_given_every_configuration_then_no_variable_beyond_contract_and_powertools(
    each: Synth,
) -> None:
    _, props = _function(each)

    # HISTORY_RETENTION_DAYS is optional (its default keeps history forever): only with
    # historyRetentionDays.
    optional = (
        {contract.ENV_HISTORY_RETENTION_DAYS} if each.config.history_retention_days else set()
    )
    assert set(props["Environment"]["Variables"]) == (
        CONTRACT_VARIABLES | POWERTOOLS_VARIABLES | optional
    )
    assert props["Environment"]["Variables"]["ALLOWED_SOURCE_HOSTS"] == ""


def test_given_string_settings_then_function_uses_them(hardened: Synth) -> None:
    _, props = _function(hardened)

    assert props["MemorySize"] == 1024
    assert props["ReservedConcurrentExecutions"] == 20
    assert props["Environment"]["Variables"]["ARCHIVE_UNREDACTED"] == "false"
    assert props["Environment"]["Variables"]["MEDICAL_PREFIX"] == "clinic/dictations/"
    assert props["Environment"]["Variables"]["MEDICAL_SCRIBE_PREFIX"] == "clinic/notes/"


def test_given_default_config_then_powertools_layer_resolves_the_pinned_release(
    default: Synth,
) -> None:
    _, props = _function(default)
    (layer,) = props["Layers"]
    parameter = default.json["Parameters"][layer["Ref"]]

    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    # Same architecture and Python as the function, same release as requirements.txt.
    assert parameter["Default"] == (
        f"/aws/service/powertools/python/arm64/{props['Runtime']}/"
        f"{default.config.powertools_version}"
    )
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = [line for line in requirements if line.startswith("aws-lambda-powertools")]
    assert len(pins) == 1
    assert pins[0].endswith(f"=={default.config.powertools_version}")


def test_given_layer_arn_with_region_placeholder_then_stack_region_is_used(
    adopted: Synth,
) -> None:
    _, props = _function(adopted)

    assert [render(layer) for layer in props["Layers"]] == [
        LAYER_ARN.replace("{region}", "<AWS::Region>")
    ]


def test_given_default_config_then_logs_go_to_an_explicit_group_kept_a_year(
    default: Synth,
) -> None:
    log_group_id, log_group = default.only("AWS::Logs::LogGroup")
    _, props = _function(default)

    assert props["LoggingConfig"] == {"LogGroup": {"Ref": log_group_id}}
    assert log_group["Properties"]["RetentionInDays"] == 365
    assert log_group["DeletionPolicy"] == "Retain"


def test_given_log_retention_30_then_log_group_keeps_30_days(hardened: Synth) -> None:
    _, log_group = hardened.only("AWS::Logs::LogGroup")

    assert log_group["Properties"]["RetentionInDays"] == 30


def test_given_every_configuration_then_async_invocations_retry_without_a_destination(
    each: Synth,
) -> None:
    # Only the sweep's schedule invokes asynchronously; a sweep request parked in a queue
    # is nothing replay could use, so failed ones are retried, then dropped.
    function_id, _ = _function(each)
    _, invoke_config = each.only("AWS::Lambda::EventInvokeConfig")

    assert invoke_config["Properties"] == {
        "FunctionName": {"Ref": function_id},
        "Qualifier": "$LATEST",
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 6 * 3600,
    }


def test_given_kms_key_then_log_group_and_environment_are_encrypted_with_it(
    hardened: Synth, default: Synth
) -> None:
    _, props = _function(hardened)
    _, log_group = hardened.only("AWS::Logs::LogGroup")

    assert props["KmsKeyArn"] == KMS_KEY_ARN
    assert log_group["Properties"]["KmsKeyId"] == KMS_KEY_ARN
    assert "KmsKeyArn" not in _function(default)[1]
    assert "KmsKeyId" not in default.only("AWS::Logs::LogGroup")[1]["Properties"]


def test_given_history_retention_then_the_function_stamps_items_for_ttl(hardened: Synth) -> None:
    _, props = _function(hardened)
    assert props["Environment"]["Variables"][contract.ENV_HISTORY_RETENTION_DAYS] == "400"

"""Least privilege: what the archiver's role (and every resource policy) allows."""

from __future__ import annotations

from typing import Any

import pytest
from archiver import contract

from tests.infra.conftest import (
    KMS_KEY_ARN,
    SOURCE_KEY_ARN,
    Synth,
    as_list,
    function_statements,
    policy_statements,
    render,
)

pytestmark = pytest.mark.infra

DATA_SERVICES = ("s3:", "dynamodb:", "sqs:", "kms:")


def _by_action(statements: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [s for s in statements if any(a.startswith(prefix) for a in as_list(s["Action"]))]


def _resources(statement: dict[str, Any]) -> set[str]:
    return {render(resource) for resource in as_list(statement["Resource"])}


def _archive_bucket_arn(synth: Synth) -> str:
    if synth.config.archive_bucket_name:
        return f"arn:<AWS::Partition>:s3:::{synth.config.archive_bucket_name}"
    return f"<{synth.logical_id('AWS::S3::Bucket', 'StorageArchive')}.Arn>"


def test_given_every_configuration_then_no_allow_statement_has_a_wildcard_action(
    each: Synth,
) -> None:
    # Deny statements (TLS-only policies) may say s3:* / sqs:*; nothing may *allow* one.
    for logical_id, statement in policy_statements(each):
        if statement["Effect"] != "Allow":
            continue
        for action in as_list(statement.get("Action", [])):
            assert "*" not in action, f"{logical_id} allows {action}"
        assert "NotAction" not in statement, logical_id


def test_given_every_configuration_then_data_services_are_never_allowed_on_all_resources(
    each: Synth,
) -> None:
    for logical_id, statement in policy_statements(each):
        if statement["Effect"] != "Allow":
            continue
        if any(a.startswith(DATA_SERVICES) for a in as_list(statement["Action"])):
            assert "*" not in as_list(statement.get("Resource", [])), logical_id


def test_given_every_configuration_then_role_has_no_managed_policies(each: Synth) -> None:
    _, role = each.only("AWS::IAM::Role")

    assert "ManagedPolicyArns" not in role["Properties"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
        }
    ]


def _prefix_objects(synth: Synth) -> set[str]:
    """The archive's folders: one per job kind."""
    prefixes = (
        synth.config.archive_prefix,
        synth.config.call_analytics_prefix,
        synth.config.medical_prefix,
        synth.config.medical_scribe_prefix,
    )
    return {f"{_archive_bucket_arn(synth)}/{prefix}*" for prefix in prefixes}


def test_given_every_configuration_then_archive_writes_are_confined_to_the_prefix(
    each: Synth,
) -> None:
    prefix_objects = _prefix_objects(each)
    writes = _by_action(function_statements(each), "s3:Put")

    assert len(writes) == 1
    # Objects are written with their tags, which S3 authorizes as PutObjectTagging.
    assert set(as_list(writes[0]["Action"])) == {
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:AbortMultipartUpload",
    }
    assert _resources(writes[0]) == prefix_objects
    assert len(prefix_objects) == 4


def test_given_every_configuration_then_archive_reads_are_confined_to_the_prefix(
    each: Synth,
) -> None:
    prefix_objects = _prefix_objects(each)
    source_objects = {f"arn:<AWS::Partition>:s3:::{b}/*" for b in each.config.source_buckets}

    for statement in _by_action(function_statements(each), "s3:"):
        assert _resources(statement) <= prefix_objects | source_objects, statement
        if _resources(statement) <= prefix_objects:
            assert set(as_list(statement["Action"])) <= {
                "s3:PutObject",
                "s3:PutObjectTagging",
                "s3:AbortMultipartUpload",
                "s3:GetObject",
            }


def test_given_no_source_buckets_then_function_reads_no_other_bucket(default: Synth) -> None:
    s3_resources = set().union(*map(_resources, _by_action(function_statements(default), "s3:")))

    assert all(
        resource.endswith(
            ("/transcripts/*", "/call-analytics/*", "/medical/*", "/medical-scribe/*")
        )
        for resource in s3_resources
    )
    assert not any(":s3:::" in resource for resource in s3_resources)


def test_given_source_buckets_then_function_may_only_get_their_objects(hardened: Synth) -> None:
    reads = [
        s
        for s in function_statements(hardened)
        if any(":s3:::" in resource for resource in _resources(s))
    ]

    assert len(reads) == 1
    assert set(as_list(reads[0]["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert _resources(reads[0]) == {
        "arn:<AWS::Partition>:s3:::team-transcribe-out/*",
        "arn:<AWS::Partition>:s3:::other-team-out/*",
    }


def test_given_every_configuration_then_history_table_access_is_item_level_only(
    each: Synth,
) -> None:
    statements = _by_action(function_statements(each), "dynamodb:")
    (statement,) = [s for s in statements if s.get("Sid") == "WriteJobHistory"]
    (markers,) = [s for s in statements if s.get("Sid") == "ClearSettledRunMarkers"]
    assert len(statements) == 2
    if each.config.jobs_table_name:
        table = (
            "arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:"
            f"table/{each.config.jobs_table_name}"
        )
    else:
        table = f"<{each.only('AWS::DynamoDB::Table')[0]}.Arn>"

    assert set(as_list(statement["Action"])) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
    }
    assert _resources(statement) == {table, f"{table}/index/*"}
    # The one delete: a settled run's marker, in the sweep's own partition and nowhere else.
    assert as_list(markers["Action"]) == ["dynamodb:DeleteItem"]
    assert _resources(markers) == {table}
    assert markers["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [contract.UNSETTLED_PARTITION]}
    }


def test_given_every_configuration_then_transcribe_access_is_get_and_list_jobs_only(
    each: Synth,
) -> None:
    statements = _by_action(function_statements(each), "transcribe:")
    allowed = {
        (action, resource)
        for statement in statements
        for action in as_list(statement["Action"])
        for resource in _resources(statement)
    }

    assert allowed == {
        (
            "transcribe:GetTranscriptionJob",
            "arn:<AWS::Partition>:transcribe:<AWS::Region>:<AWS::AccountId>:transcription-job/*",
        ),
        # The service authorization reference's callanalyticsjob resource type.
        (
            "transcribe:GetCallAnalyticsJob",
            "arn:<AWS::Partition>:transcribe:<AWS::Region>:<AWS::AccountId>:analytics/*",
        ),
        # The service authorization reference's medical-transcription-job and
        # medical-scribe-job resource types.
        (
            "transcribe:GetMedicalTranscriptionJob",
            "arn:<AWS::Partition>:transcribe:<AWS::Region>:<AWS::AccountId>:"
            "medical-transcription-job/*",
        ),
        (
            "transcribe:GetMedicalScribeJob",
            "arn:<AWS::Partition>:transcribe:<AWS::Region>:<AWS::AccountId>:medical-scribe-job/*",
        ),
        # The sweep's listing: List actions support no resource-level permissions.
        ("transcribe:ListTranscriptionJobs", "*"),
        ("transcribe:ListCallAnalyticsJobs", "*"),
        ("transcribe:ListMedicalTranscriptionJobs", "*"),
        ("transcribe:ListMedicalScribeJobs", "*"),
    }


def test_given_every_configuration_then_logs_and_queue_reads_target_own_resources(
    each: Synth,
) -> None:
    statements = function_statements(each)
    log_group_id, _ = each.only("AWS::Logs::LogGroup")
    queue_id = each.logical_id("AWS::SQS::Queue", "JobStateChangeQueue")

    (logs,) = _by_action(statements, "logs:")
    (sqs,) = _by_action(statements, "sqs:")
    assert set(as_list(logs["Action"])) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert _resources(logs) == {f"<{log_group_id}.Arn>"}
    # What the event source mapping calls with the function's role, on the event queue;
    # the function itself sends to no queue.
    assert set(as_list(sqs["Action"])) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert _resources(sqs) == {f"<{queue_id}.Arn>"}


def test_given_no_kms_key_then_no_statement_mentions_kms(default: Synth, adopted: Synth) -> None:
    for synth in (default, adopted):
        for logical_id, statement in policy_statements(synth):
            assert not _by_action([statement], "kms:"), logical_id


def test_given_kms_key_then_function_may_use_only_that_key_through_its_services(
    hardened: Synth,
) -> None:
    kms_statements = [
        s
        for _, s in policy_statements(hardened)
        if _by_action([s], "kms:") and KMS_KEY_ARN in as_list(s["Resource"])
    ]

    assert len(kms_statements) == 2
    assert all(statement in function_statements(hardened) for statement in kms_statements)
    for statement in kms_statements:
        assert as_list(statement["Resource"]) == [KMS_KEY_ARN]
    via = {
        render(v): set(as_list(s["Action"]))
        for s in kms_statements
        for v in as_list(s["Condition"]["StringEquals"]["kms:ViaService"])
    }
    archive_and_table = {"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"}
    assert via == {
        "s3.<AWS::Region>.amazonaws.com": archive_and_table,
        "dynamodb.<AWS::Region>.amazonaws.com": archive_and_table,
        # Reading the event queue needs no more than decrypting its messages.
        "sqs.<AWS::Region>.amazonaws.com": {"kms:Decrypt"},
    }


def test_given_source_kms_keys_then_function_may_only_decrypt_with_them_through_s3(
    hardened: Synth, default: Synth
) -> None:
    decrypting = [
        s for _, s in policy_statements(hardened) if SOURCE_KEY_ARN in as_list(s["Resource"])
    ]

    assert len(decrypting) == 1
    (statement,) = decrypting
    assert statement in function_statements(hardened)
    assert as_list(statement["Action"]) == ["kms:Decrypt"]
    assert as_list(statement["Resource"]) == [SOURCE_KEY_ARN]
    via = render(statement["Condition"]["StringEquals"]["kms:ViaService"])
    assert via == "s3.<AWS::Region>.amazonaws.com"
    assert not any(
        _by_action([s], "kms:Decrypt") for s in function_statements(default)
    )  # without sourceKmsKeyArns: no decrypt at all

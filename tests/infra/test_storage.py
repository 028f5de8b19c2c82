"""Archive bucket and history table: shape from archiver.contract, and data safety."""

from __future__ import annotations

from typing import Any

import pytest
from archiver import contract

from tests.infra.conftest import KMS_KEY_ARN, Synth, render

pytestmark = pytest.mark.infra


def _archive_bucket(synth: Synth) -> dict[str, Any]:
    return synth.resources("AWS::S3::Bucket")[synth.logical_id("AWS::S3::Bucket", "StorageArchive")]


def _bucket_policy_statements(synth: Synth, bucket_id: str) -> list[dict[str, Any]]:
    for policy in synth.resources("AWS::S3::BucketPolicy").values():
        if policy["Properties"]["Bucket"] == {"Ref": bucket_id}:
            return list(policy["Properties"]["PolicyDocument"]["Statement"])
    raise AssertionError(f"no bucket policy for {bucket_id}")


def test_given_default_config_then_table_matches_contract_create_table_kwargs(
    default: Synth,
) -> None:
    # The local demo and integration tests create their table from the same contract.
    _, table = default.only("AWS::DynamoDB::Table")
    props = table["Properties"]
    expected = contract.create_table_kwargs("unused")

    assert props["KeySchema"] == expected["KeySchema"]
    assert props["BillingMode"] == expected["BillingMode"]
    assert (
        sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"])
        == (expected["AttributeDefinitions"])
    )
    assert sorted(props["GlobalSecondaryIndexes"], key=lambda i: i["IndexName"]) == sorted(
        expected["GlobalSecondaryIndexes"], key=lambda i: i["IndexName"]
    )
    assert {index["IndexName"] for index in props["GlobalSecondaryIndexes"]} == {
        "ByStatus",
        "ByLanguage",
    }


def test_given_default_config_then_table_is_protected_and_retained(default: Synth) -> None:
    _, table = default.only("AWS::DynamoDB::Table")

    assert table["Properties"]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True
    }
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    # AWS-owned encryption is the DynamoDB default; AWS_MANAGED renders as SSEEnabled.
    assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}


def test_given_default_config_then_archive_bucket_is_private_versioned_and_retained(
    default: Synth,
) -> None:
    bucket = _archive_bucket(default)
    props = bucket["Properties"]

    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"


def test_given_default_config_then_archive_bucket_refuses_plain_http(default: Synth) -> None:
    bucket_id = default.logical_id("AWS::S3::Bucket", "StorageArchive")

    denies = [
        s
        for s in _bucket_policy_statements(default, bucket_id)
        if s["Effect"] == "Deny"
        and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]

    assert len(denies) == 1
    assert denies[0]["Principal"] == {"AWS": "*"}
    assert {render(r) for r in denies[0]["Resource"]} == {
        f"<{bucket_id}.Arn>",
        f"<{bucket_id}.Arn>/*",
    }


def test_given_default_config_then_access_logs_go_to_a_separate_private_bucket(
    default: Synth,
) -> None:
    log_bucket_id = default.logical_id("AWS::S3::Bucket", "StorageAccessLog")
    log_bucket = default.resources("AWS::S3::Bucket")[log_bucket_id]

    assert _archive_bucket(default)["Properties"]["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": log_bucket_id},
        "LogFilePrefix": "archive-bucket/",
    }
    assert log_bucket["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
    assert log_bucket["DeletionPolicy"] == "Retain"
    # S3 log delivery only writes to SSE-S3 buckets, and is granted by bucket policy.
    assert log_bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    delivery = [
        s for s in _bucket_policy_statements(default, log_bucket_id) if s["Effect"] == "Allow"
    ]
    assert [s["Principal"] for s in delivery] == [{"Service": "logging.s3.amazonaws.com"}]


def test_given_no_glacier_setting_then_only_stale_uploads_are_cleaned_up(default: Synth) -> None:
    rules = _archive_bucket(default)["Properties"]["LifecycleConfiguration"]["Rules"]

    assert rules == [
        {
            "Id": "AbortIncompleteUploads",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
            "Status": "Enabled",
        }
    ]


def test_given_glacier_after_90_days_then_current_and_old_versions_transition(
    hardened: Synth,
) -> None:
    rules = _archive_bucket(hardened)["Properties"]["LifecycleConfiguration"]["Rules"]
    glacier = [rule for rule in rules if rule["Id"] == "TransitionToGlacier"]

    assert glacier == [
        {
            "Id": "TransitionToGlacier",
            "Status": "Enabled",
            "Transitions": [{"StorageClass": "GLACIER", "TransitionInDays": 90}],
            "NoncurrentVersionTransitions": [{"StorageClass": "GLACIER", "TransitionInDays": 90}],
        }
    ]


def test_given_kms_key_then_bucket_table_queues_and_topic_use_it(hardened: Synth) -> None:
    bucket_encryption = _archive_bucket(hardened)["Properties"]["BucketEncryption"]
    _, table = hardened.only("AWS::DynamoDB::Table")
    queues = hardened.resources("AWS::SQS::Queue")
    _, topic = hardened.only("AWS::SNS::Topic")

    assert bucket_encryption["ServerSideEncryptionConfiguration"] == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "KMSMasterKeyID": KMS_KEY_ARN,
                "SSEAlgorithm": "aws:kms",
            },
        }
    ]
    assert table["Properties"]["SSESpecification"] == {
        "KMSMasterKeyId": KMS_KEY_ARN,
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    assert len(queues) == 3  # the event queue and its two dead-letter queues
    assert all(q["Properties"]["KmsMasterKeyId"] == KMS_KEY_ARN for q in queues.values())
    assert topic["Properties"]["KmsMasterKeyId"] == KMS_KEY_ARN


def test_given_existing_bucket_and_table_then_neither_is_declared(adopted: Synth) -> None:
    # Adopting also skips the access-log bucket: logging the adopted bucket is its owner's call.
    adopted.template.resource_count_is("AWS::S3::Bucket", 0)
    adopted.template.resource_count_is("AWS::S3::BucketPolicy", 0)
    adopted.template.resource_count_is("AWS::DynamoDB::Table", 0)


def test_given_existing_bucket_and_table_then_their_names_reach_the_function(
    adopted: Synth,
) -> None:
    _, function = adopted.only("AWS::Lambda::Function")
    env = function["Properties"]["Environment"]["Variables"]

    assert env["ARCHIVE_BUCKET"] == "team-archive"
    assert env["JOBS_TABLE"] == "TranscribeJobs"
    assert env["ARCHIVE_PREFIX"] == "archive/v1/"


def test_given_every_configuration_then_queues_are_encrypted_tls_only_and_keep_14_days(
    each: Synth,
) -> None:
    queues = each.resources("AWS::SQS::Queue")
    policies = each.resources("AWS::SQS::QueuePolicy").values()

    assert len(queues) == 3  # the event queue and its two dead-letter queues
    for queue_id, queue in queues.items():
        props = queue["Properties"]
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props
        assert queue["DeletionPolicy"] == "Retain"
        tls_denies = [
            statement
            for policy in policies
            if {"Ref": queue_id} in policy["Properties"]["Queues"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if statement["Effect"] == "Deny"
            and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert len(tls_denies) == 1, queue_id


def test_given_object_lock_then_the_new_bucket_has_that_default_retention(
    hardened: Synth, default: Synth
) -> None:
    bucket = _archive_bucket(hardened)["Properties"]

    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
    }
    assert "ObjectLockConfiguration" not in _archive_bucket(default)["Properties"]


def test_given_retention_settings_then_lifecycle_rules_target_the_tags_and_old_versions(
    hardened: Synth,
) -> None:
    rules = {
        rule["Id"]: rule
        for rule in _archive_bucket(hardened)["Properties"]["LifecycleConfiguration"]["Rules"]
    }

    unredacted = rules["ExpireUnredactedTranscripts"]
    assert unredacted["ExpirationInDays"] == 14
    assert unredacted["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert sorted(unredacted["TagFilters"], key=lambda t: t["Key"]) == [
        {"Key": contract.TAG_ARCHIVE_OBJECT, "Value": contract.TRANSCRIPT},
        {"Key": contract.TAG_JOB_REDACTED, "Value": "true"},
    ]
    assert "Prefix" not in unredacted
    noncurrent = rules["ExpireNoncurrentVersions"]
    assert noncurrent["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
    assert noncurrent["ExpiredObjectDeleteMarker"] is True


def test_given_history_retention_then_the_table_expires_items_by_ttl(
    hardened: Synth, default: Synth
) -> None:
    _, table = hardened.only("AWS::DynamoDB::Table")
    assert table["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": contract.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert "TimeToLiveSpecification" not in default.only("AWS::DynamoDB::Table")[1]["Properties"]


def test_given_default_config_then_the_access_log_bucket_is_versioned_with_its_own_expiry(
    default: Synth,
) -> None:
    log_bucket_id = default.logical_id("AWS::S3::Bucket", "StorageAccessLog")
    log_bucket = default.resources("AWS::S3::Bucket")[log_bucket_id]["Properties"]

    assert log_bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = log_bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == default.config.log_retention_days
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}

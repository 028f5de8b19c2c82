"""A run's folder as purge sees it: versions, open uploads, and what Object Lock holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from archiver.store.archive_versions import ArchiveVersions, LockUnreadable, ObjectVersion
from botocore.stub import Stubber

from local_aws import moto_object_lock

NOW = datetime.now(UTC)
FOLDER = "transcripts/call-1/20261123T101502Z/"


@pytest.fixture
def locked_bucket(aws: dict[str, Any]) -> ArchiveVersions:
    moto_object_lock.install()  # GetObjectRetention, which moto lacks
    aws["s3"].create_bucket(Bucket="locked-bucket", ObjectLockEnabledForBucket=True)
    return ArchiveVersions(aws["s3"], "locked-bucket")


def put(s3: Any, bucket: str, key: str, **extra: Any) -> ObjectVersion:
    version = s3.put_object(Bucket=bucket, Key=key, Body=b"x", **extra)["VersionId"]
    return ObjectVersion(key, version, False, 1)


def test_given_no_object_lock_then_no_version_is_held_and_no_lock_is_read(
    aws: dict[str, Any],
) -> None:
    aws["s3"].put_bucket_versioning(
        Bucket=aws["bucket"], VersioningConfiguration={"Status": "Enabled"}
    )
    archive = ArchiveVersions(aws["s3"], aws["bucket"])
    version = put(aws["s3"], aws["bucket"], FOLDER + "transcript.json")
    with Stubber(aws["s3"]) as stub:  # any call but the bucket's configuration fails
        stub.add_client_error(
            "get_object_lock_configuration", "ObjectLockConfigurationNotFoundError"
        )
        assert archive.held([version], NOW) == []
        stub.assert_no_pending_responses()


def test_given_retention_a_legal_hold_or_neither_then_only_the_held_versions_are_named(
    aws: dict[str, Any], locked_bucket: ArchiveVersions
) -> None:
    s3, bucket = aws["s3"], locked_bucket.bucket
    free = put(s3, bucket, FOLDER + "job.json")
    until = (NOW + timedelta(days=2)).replace(microsecond=0)
    retained = put(
        s3,
        bucket,
        FOLDER + "transcript.json",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )
    on_hold = put(s3, bucket, FOLDER + "subtitles.vtt", ObjectLockLegalHoldStatus="ON")
    marker = ObjectVersion(FOLDER + "x", "marker-id", True)

    held = locked_bucket.held([free, retained, on_hold, marker], NOW)

    assert [(h.version, h.mode, h.legal_hold) for h in held] == [
        (retained, "COMPLIANCE", False),
        (on_hold, None, True),
    ]
    assert held[0].until == until
    # Retention that has run out holds nothing.
    assert locked_bucket.held([retained], until + timedelta(seconds=1)) == []


@pytest.mark.parametrize(
    ("operation", "action"),
    [
        ("get_object_lock_configuration", "s3:GetBucketObjectLockConfiguration"),
        ("get_object_retention", "s3:GetObjectRetention"),
        ("get_object_legal_hold", "s3:GetObjectLegalHold"),
    ],
)
def test_given_a_lock_read_is_denied_then_it_is_a_refusal_naming_the_permission(
    aws: dict[str, Any], operation: str, action: str
) -> None:
    archive = ArchiveVersions(aws["s3"], aws["bucket"])
    version = ObjectVersion(FOLDER + "transcript.json", "v1", False, 1)
    answers = [
        (
            "get_object_lock_configuration",
            {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}},
        ),
        ("get_object_retention", {}),
        ("get_object_legal_hold", {}),
    ]
    with Stubber(aws["s3"]) as stub:
        for name, answer in answers:
            if name == operation:
                stub.add_client_error(name, "AccessDenied", http_status_code=403)
                break
            stub.add_response(name, answer)
        with pytest.raises(LockUnreadable, match=action):
            archive.held([version], NOW)


def test_given_uploads_under_several_folders_then_only_the_folders_are_listed_and_aborted(
    aws: dict[str, Any],
) -> None:
    s3, bucket = aws["s3"], aws["bucket"]
    archive = ArchiveVersions(s3, bucket)
    mine = s3.create_multipart_upload(Bucket=bucket, Key=FOLDER + "big.wav")["UploadId"]
    s3.create_multipart_upload(Bucket=bucket, Key="transcripts/call-10/20261123T101502Z/a")

    found = archive.uploads(FOLDER)

    assert [(u.key, u.upload_id) for u in found] == [(FOLDER + "big.wav", mine)]
    archive.abort(found)
    archive.abort(found)  # one already gone is no error
    assert archive.uploads(FOLDER) == []
    assert len(archive.uploads("transcripts/")) == 1


@pytest.mark.parametrize("prefix", ["", "/", "transcripts/call-1"])
def test_given_a_prefix_that_is_no_folder_then_nothing_is_listed(
    aws: dict[str, Any], prefix: str
) -> None:
    archive = ArchiveVersions(aws["s3"], aws["bucket"])
    with pytest.raises(ValueError, match="not a run's folder"):
        archive.under(prefix)
    with pytest.raises(ValueError, match="not a run's folder"):
        archive.uploads(prefix)

"""Server-side copies from the team's bucket: the record's SHA-256 comes from S3 itself,
whether or not S3 puts it in the copy's answer, and a copy that is not the source (another
length, another checksum) is never recorded."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from archiver.errors import PermanentOutputError, TransientOutputError
from archiver.models.outputs import S3Location
from archiver.store.archive_bucket import ArchiveBucket
from botocore.stub import ANY, Stubber

BODY = b'{"results": {"transcripts": [{"transcript": "hello"}]}}'
DIGEST = hashlib.sha256(BODY).digest()
B64 = base64.b64encode(DIGEST).decode()
OTHER = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
SOURCE = S3Location("team-output", "out/call-1.json")
KEY = "transcripts/call-1/20261123T101502Z/transcript.json"


@pytest.fixture
def s3() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def source_head(stubber: Stubber, **checksum: str) -> None:
    stubber.add_response(
        "head_object",
        {"ContentLength": len(BODY), "ETag": '"etag-1"', "VersionId": "v1", **checksum},
        {"Bucket": SOURCE.bucket, "Key": SOURCE.key, "ChecksumMode": "ENABLED"},
    )


def stored_head(stubber: Stubber, length: int = len(BODY), checksum: str = B64) -> None:
    """What S3 says it stored under the archive key."""
    stubber.add_response(
        "head_object",
        {"ContentLength": length, "ChecksumSHA256": checksum, "ChecksumType": "FULL_OBJECT"},
        {"Bucket": "archive", "Key": KEY, "ChecksumMode": "ENABLED"},
    )


def copy(client: Any) -> Any:
    bucket = ArchiveBucket(client, "archive")
    return bucket.copy_from(
        "transcript.json",
        SOURCE,
        KEY,
        "application/json",
        {"job-name": "call-1"},
        10**9,
        {"archive-object": "transcript.json", "job-redacted": "false"},
    )


def test_given_s3_answers_the_copy_with_its_checksum_then_the_stored_copy_is_checked_and_recorded(
    s3: tuple[Any, Stubber],
) -> None:
    client, stubber = s3
    source_head(stubber)
    stubber.add_response(
        "copy_object",
        {"CopyObjectResult": {"ChecksumSHA256": B64}},
        {
            "Bucket": "archive",
            "Key": KEY,
            "CopySource": {"Bucket": SOURCE.bucket, "Key": SOURCE.key, "VersionId": "v1"},
            "CopySourceIfMatch": '"etag-1"',
            "MetadataDirective": "REPLACE",
            "TaggingDirective": ANY,
            "ContentType": "application/json",
            "Metadata": {"job-name": "call-1"},
            "ChecksumAlgorithm": "SHA256",
            "Tagging": "archive-object=transcript.json&job-redacted=false",
        },
    )
    stored_head(stubber)
    stored = copy(client)
    assert stored.sha256_hex == DIGEST.hex()
    assert stored.size == len(BODY)


def test_given_s3_leaves_the_checksum_out_of_the_copy_answer_then_it_is_read_back(
    s3: tuple[Any, Stubber],
) -> None:
    client, stubber = s3
    source_head(stubber)
    stubber.add_response("copy_object", {"CopyObjectResult": {"ETag": '"e"'}}, None)
    stored_head(stubber)
    assert copy(client).sha256_hex == DIGEST.hex()


@pytest.mark.parametrize(
    ("case", "source", "answer", "length", "checksum"),
    [
        ("stored length differs", {}, B64, len(BODY) + 1, B64),
        ("stored checksum differs from the copy's answer", {}, B64, len(BODY), OTHER),
        (
            "stored checksum differs from the source's own SHA-256",
            {"ChecksumSHA256": B64, "ChecksumType": "FULL_OBJECT"},
            None,
            len(BODY),
            OTHER,
        ),
        ("no checksum stored", {}, None, len(BODY), ""),
    ],
)
def test_given_s3_stored_something_else_than_the_source_then_the_copy_is_not_recorded(
    s3: tuple[Any, Stubber],
    case: str,
    source: dict[str, str],
    answer: str | None,
    length: int,
    checksum: str,
) -> None:
    client, stubber = s3
    source_head(stubber, **source)
    result = {"ChecksumSHA256": answer} if answer else {"ETag": '"e"'}
    stubber.add_response("copy_object", {"CopyObjectResult": result}, None)
    stored_head(stubber, length, checksum)
    with pytest.raises(TransientOutputError):
        copy(client)


def test_given_access_denied_on_the_source_then_the_reason_names_both_settings(
    s3: tuple[Any, Stubber],
) -> None:
    client, stubber = s3
    stubber.add_client_error("head_object", service_error_code="403", http_status_code=403)
    with pytest.raises(PermanentOutputError) as raised:
        copy(client)
    assert "sourceBuckets" in raised.value.reason
    assert "sourceKmsKeyArns" in raised.value.reason

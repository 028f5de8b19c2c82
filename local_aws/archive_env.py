"""A fresh archive (bucket + history table) and the archiver's contract environment.

Plain functions, no pytest: the integration fixtures, the chaos test, the benchmarks and
the demo all build their environment the same way.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field

from archiver import contract
from botocore.exceptions import ClientError

from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe


@dataclass(frozen=True)
class ArchiveEnv:
    """Names of one test's archive and the environment pointing the archiver at it."""

    bucket: str
    table: str
    prefix: str
    max_output_bytes: int
    environ: dict[str, str] = field(repr=False)

    @property
    def archive_uri(self) -> str:
        """``s3://bucket/prefix`` under which every job folder lands."""
        return f"s3://{self.bucket}/{self.prefix}"


def archiver_environment(
    aws: EmbeddedAWS,
    fake: FakeTranscribe,
    *,
    bucket: str,
    table: str,
    prefix: str = contract.DEFAULT_ARCHIVE_PREFIX,
    max_output_bytes: int = contract.DEFAULT_MAX_OUTPUT_BYTES,
) -> dict[str, str]:
    """Every variable the archiver reads (docs/contract.md) plus AWS and Powertools settings."""
    return aws.env(
        **{
            contract.ENV_ARCHIVE_BUCKET: bucket,
            contract.ENV_ARCHIVE_PREFIX: prefix,
            contract.ENV_JOBS_TABLE: table,
            contract.ENV_ALLOWED_SOURCE_HOSTS: fake.link_host,
            contract.ENV_MAX_OUTPUT_BYTES: max_output_bytes,
            contract.ENV_CALL_ANALYTICS_PREFIX: contract.DEFAULT_CALL_ANALYTICS_PREFIX,
        },
        **fake.env(),
        POWERTOOLS_METRICS_NAMESPACE=contract.METRICS_NAMESPACE,
        POWERTOOLS_SERVICE_NAME=contract.METRICS_SERVICE,
        POWERTOOLS_TRACE_DISABLED="true",
    )


def new_archive(
    aws: EmbeddedAWS,
    fake: FakeTranscribe,
    *,
    prefix: str = contract.DEFAULT_ARCHIVE_PREFIX,
    max_output_bytes: int = contract.DEFAULT_MAX_OUTPUT_BYTES,
    object_lock_days: int = 0,
) -> ArchiveEnv:
    """Create a uniquely named bucket and table (moto state is process-wide) and the env."""
    token = uuid.uuid4().hex[:12]
    bucket, table = f"archive-{token}", f"jobs-{token}"
    aws.create_archive(bucket, table, object_lock_days=object_lock_days)
    return ArchiveEnv(
        bucket=bucket,
        table=table,
        prefix=prefix,
        max_output_bytes=max_output_bytes,
        environ=archiver_environment(
            aws,
            fake,
            bucket=bucket,
            table=table,
            prefix=prefix,
            max_output_bytes=max_output_bytes,
        ),
    )


def drop_archive(aws: EmbeddedAWS, archive: ArchiveEnv) -> None:
    """Best-effort removal, so large test objects don't pile up in moto's memory."""
    s3 = aws.client("s3")
    with contextlib.suppress(ClientError):
        # The bucket is versioned: every version and delete marker must go before it can.
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=archive.bucket):
            keys = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if keys:
                s3.delete_objects(
                    Bucket=archive.bucket,
                    Delete={"Objects": keys},  # type: ignore[typeddict-item]
                    BypassGovernanceRetention=True,
                )
        s3.delete_bucket(Bucket=archive.bucket)
    with contextlib.suppress(ClientError):
        aws.client("dynamodb").delete_table(TableName=archive.table)

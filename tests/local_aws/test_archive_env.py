"""The archive environment the integration suites, the benchmarks and the demo build."""

from __future__ import annotations

import os

import boto3
import pytest

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe

pytestmark = pytest.mark.integration


def test_given_the_archive_env_fixture_when_used_then_the_contract_environment_is_set(
    archive_env: ArchiveEnv,
    embedded_aws: EmbeddedAWS,
    fake_transcribe: FakeTranscribe,
) -> None:
    assert os.environ["ARCHIVE_BUCKET"] == archive_env.bucket
    assert os.environ["JOBS_TABLE"] == archive_env.table
    assert os.environ["ARCHIVE_PREFIX"] == "transcripts/"
    assert os.environ["ALLOWED_SOURCE_HOSTS"] == fake_transcribe.link_host
    assert os.environ["AWS_ENDPOINT_URL"] == embedded_aws.endpoint_url
    assert os.environ["AWS_ENDPOINT_URL_TRANSCRIBE"] == fake_transcribe.endpoint_url
    assert os.environ["POWERTOOLS_METRICS_NAMESPACE"] == "TranscribeArchiver"
    assert int(os.environ["MAX_OUTPUT_BYTES"]) == 5 * 1024**3
    # A client built only from the environment reaches both doubles.
    fake_transcribe.add_job("from-env")
    session = boto3.session.Session()
    assert session.client("transcribe").get_transcription_job(TranscriptionJobName="from-env")
    session.client("s3").head_bucket(Bucket=archive_env.bucket)
    session.client("dynamodb").describe_table(TableName=archive_env.table)

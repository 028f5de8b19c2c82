"""Unit-test fixtures: in-process moto, no network beyond loopback."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from archiver import contract
from archiver.observability import logger
from moto import mock_aws

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_TRANSCRIBE", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """moto in-process, with the archive bucket and the history table created."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        db = boto3.client("dynamodb", region_name=REGION)
        s3.create_bucket(Bucket="archive-bucket")
        db.create_table(**contract.create_table_kwargs("jobs"))
        yield {"s3": s3, "dynamodb": db, "bucket": "archive-bucket", "table": "jobs"}


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The function's log lines as CloudWatch gets them (keys appended by each thread)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logger.registered_formatter)
    stdlib = logging.getLogger(logger.service)  # the logger Powertools writes through
    stdlib.addHandler(handler)
    yield buffer
    stdlib.removeHandler(handler)

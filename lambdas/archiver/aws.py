"""boto3 clients with the retry behaviour the contract promises.

Throttling and 5xx are retried by botocore itself (standard/adaptive modes: exponential
backoff with jitter), never by loops of ours. Transcribe gets adaptive mode, which also
slows the client down when GetTranscriptionJob's ~30 requests/s quota pushes back.
Clients are created on first use and reused by later invocations of a warm function.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_transcribe import TranscribeServiceClient

TRANSCRIBE_RETRIES = {"mode": "adaptive", "max_attempts": 10}
DATA_RETRIES = {"mode": "standard", "max_attempts": 8}


@dataclass(frozen=True)
class AwsClients:
    transcribe: TranscribeServiceClient
    s3: S3Client
    dynamodb: DynamoDBClient


_lock = threading.Lock()
_cache: dict[tuple[str | None, ...], AwsClients] = {}
_ENV_KEYS = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_TRANSCRIBE",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
)


def clients(region: str | None = None, endpoint_url: str | None = None) -> AwsClients:
    """Shared clients for a region/endpoint (None: boto3's own resolution from the env)."""
    # The environment is part of the key: a test (or the demo) may repoint the endpoints
    # or switch credentials; a warm Lambda's environment never changes.
    key = (region, endpoint_url, *(os.environ.get(k) for k in _ENV_KEYS))
    with _lock:
        if key not in _cache:
            _cache[key] = _make(region, endpoint_url)
        return _cache[key]


def _make(region: str | None, endpoint_url: str | None) -> AwsClients:
    session = boto3.session.Session(region_name=region)
    common = {"connect_timeout": 5, "read_timeout": 60, "max_pool_connections": 32}
    data = Config(retries=DATA_RETRIES, **common)  # type: ignore[arg-type]
    return AwsClients(
        transcribe=session.client(
            "transcribe",
            # A Transcribe-specific endpoint (a local double) beats a general override.
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL_TRANSCRIBE") or endpoint_url,
            config=Config(retries=TRANSCRIBE_RETRIES, **common),  # type: ignore[arg-type]
        ),
        s3=session.client("s3", endpoint_url=endpoint_url, config=data),
        dynamodb=session.client("dynamodb", endpoint_url=endpoint_url, config=data),
    )

"""The one client factory: boto3 clients with the retry behaviour the contract promises.

Throttling and 5xx are retried by botocore itself (standard/adaptive modes: exponential
backoff with jitter), never by loops of ours. Transcribe gets adaptive mode, which also
slows the client down when GetTranscriptionJob's ~30 requests/s quota pushes back.
Each client is created on first use (nothing at import) and reused by later invocations of
a warm function.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
)

from archiver.errors import one_line

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient
    from mypy_boto3_transcribe import TranscribeServiceClient

TRANSCRIBE_RETRIES = {"mode": "adaptive", "max_attempts": 10}
DATA_RETRIES = {"mode": "standard", "max_attempts": 8}
_COMMON: dict[str, Any] = {"connect_timeout": 5, "read_timeout": 60, "max_pool_connections": 32}


class AwsClients:
    """Clients for one region/endpoint, each built when first asked for."""

    def __init__(self, region: str | None = None, endpoint_url: str | None = None) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}
        # boto3 sessions are not safe to create clients from in several threads at once.
        self._lock = threading.Lock()

    @property
    def transcribe(self) -> TranscribeServiceClient:
        # A Transcribe-specific endpoint (a local double) beats a general override.
        endpoint = os.environ.get("AWS_ENDPOINT_URL_TRANSCRIBE") or self.endpoint_url
        client: TranscribeServiceClient = self._client(
            "transcribe", TRANSCRIBE_RETRIES, endpoint_url=endpoint
        )
        return client

    @property
    def s3(self) -> S3Client:
        # Every upload carries a checksum that S3 verifies, and goes over TLS: botocore
        # would otherwise SHA-256 each byte again to sign a payload whose checksum it does
        # not see (one it did not compute itself). AWS's own default for streamed uploads.
        client: S3Client = self._client("s3", DATA_RETRIES, {"payload_signing_enabled": False})
        return client

    @property
    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self._client("dynamodb", DATA_RETRIES)
        return client

    @property
    def sqs(self) -> SQSClient:
        client: SQSClient = self._client("sqs", DATA_RETRIES)
        return client

    @property
    def cloudformation(self) -> CloudFormationClient:
        client: CloudFormationClient = self._client("cloudformation", DATA_RETRIES)
        return client

    @property
    def sts(self) -> STSClient:
        client: STSClient = self._client("sts", DATA_RETRIES)
        return client

    def _client(
        self,
        service: str,
        retries: dict[str, Any],
        s3: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
    ) -> Any:
        with self._lock:
            if service not in self._clients:
                if self._session is None:
                    self._session = boto3.session.Session(region_name=self.region)
                self._clients[service] = self._session.client(
                    service,  # type: ignore[call-overload]
                    endpoint_url=endpoint_url or self.endpoint_url,
                    config=Config(retries=retries, s3=s3, **_COMMON),  # type: ignore[arg-type]
                )
            return self._clients[service]


_lock = threading.Lock()
_cache: dict[tuple[str | None, ...], AwsClients] = {}
_ENV_KEYS = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_TRANSCRIBE",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_CLOUDFORMATION",
    "AWS_ENDPOINT_URL_STS",
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
            _cache[key] = AwsClients(region, endpoint_url)
        return _cache[key]


def default_region() -> str | None:
    """The region boto3 would use with no ``--region``: environment, then config files."""
    return boto3.session.Session().region_name


FailureKind = Literal[
    "no-credentials", "no-region", "unreachable", "bad-parameters", "botocore", "service"
]


@dataclass(frozen=True)
class AwsFailure:
    """An AWS SDK error, sorted for people (the CLI turns it into a sentence)."""

    kind: FailureKind
    code: str = ""
    message: str = ""
    operation: str = ""


def aws_failure(exc: BaseException) -> AwsFailure | None:
    """What went wrong, if ``exc`` is a boto3/botocore error; None otherwise."""
    if isinstance(exc, NoCredentialsError):
        return AwsFailure("no-credentials")
    if isinstance(exc, NoRegionError):
        return AwsFailure("no-region")
    if isinstance(exc, EndpointConnectionError):
        return AwsFailure("unreachable", message=str(exc.kwargs.get("endpoint_url", "AWS")))
    if isinstance(exc, ParamValidationError):
        return AwsFailure("bad-parameters", message=" ".join(str(exc).split()))
    if isinstance(exc, BotoCoreError):
        return AwsFailure("botocore", message=str(exc))
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return AwsFailure(
            "service",
            code=str(error.get("Code", "")),
            message=one_line(str(error.get("Message", ""))),
            operation=exc.operation_name,
        )
    return None

"""An embedded AWS (moto server) on loopback, for integration tests, benchmarks and the demo.

moto's backends are process-global: every ``EmbeddedAWS`` in one process (and any
``moto.mock_aws`` in the same process) shares the same S3 buckets and DynamoDB tables.
Use unique names per test (see ``local_aws.archive_env``) rather than many servers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from archiver import contract
from botocore.config import Config
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import ThreadedWSGIServer

from local_aws import moto_object_lock
from local_aws.http_server import (
    DUMMY_CREDENTIAL,
    LOOPBACK,
    LocalServer,
    TrackedConnectionsMixin,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_transcribe import TranscribeServiceClient


# GetObjectRetention, which moto 5.2.5 lacks (purge reads every version's retention).
moto_object_lock.install()


class _QuietMotoHandler(MotoRequestHandler):
    """moto's handler without werkzeug's one-line-per-request access log on stderr."""

    # As in the Transcribe double: no ~40 ms delayed-ACK stalls between header and body.
    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class _AtomicDynamoDB:
    """Serializes DynamoDB requests, as the real service serializes writes to an item.

    moto checks a ConditionExpression and then writes, with no lock held against other
    server threads between the two: two concurrent conditional writes could both pass,
    which DynamoDB never allows and the archiver's leases rely on.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))


class _MotoServer(TrackedConnectionsMixin, ThreadedWSGIServer):
    """The WSGI app moto's ``ThreadedMotoServer`` runs, on a server whose connection
    threads can be woken and joined.

    moto 5.2.5's own ``stop()`` ends the accept loop and joins that one thread, but the
    threads serving keep-alive connections (boto3 pools them) are daemons it never joins.
    """

    def __init__(self, port: int, *, wrap: Callable[[Any], Any] | None = None) -> None:
        """``wrap``: a WSGI middleware around moto's app (the enforced AWS's control paths)."""
        self._init_tracking(max_connections=512)
        app: Any = _AtomicDynamoDB(DomainDispatcherApplication(create_backend_app))
        if wrap is not None:
            app = wrap(app)
        try:
            super().__init__(LOOPBACK, port, app, handler=_QuietMotoHandler)
        except SystemExit as exc:  # werkzeug exits the process when the port is taken
            raise RuntimeError(f"moto server could not listen on port {port}") from exc


class EmbeddedAWS(LocalServer[_MotoServer]):
    """moto's server on ``127.0.0.1`` (a free port unless one is given).

    >>> with EmbeddedAWS() as aws:
    ...     s3 = aws.client("s3")
    """

    thread_name = "embedded-aws"

    def __init__(self, *, region: str = "us-east-1", port: int = 0) -> None:
        super().__init__()
        self.region = region
        self._requested_port = port
        self._session = boto3.session.Session(
            aws_access_key_id=DUMMY_CREDENTIAL,
            aws_secret_access_key=DUMMY_CREDENTIAL,
            region_name=region,
        )
        # boto3 sessions are not thread-safe while creating clients.
        self._client_lock = threading.Lock()

    def _make_server(self) -> _MotoServer:
        return _MotoServer(self._requested_port)

    # -- environment and clients --------------------------------------------------------
    def env(self, **extra: object) -> dict[str, str]:
        """Environment a process (or ``os.environ``) needs to use this AWS, plus ``extra``.

        boto3 reads ``AWS_ENDPOINT_URL`` itself, so every client the code under test makes
        lands here; a service-specific ``AWS_ENDPOINT_URL_<SERVICE>`` (e.g. Transcribe's
        double) still wins over it.
        """
        values = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
            # No instance metadata service exists here; never wait on 169.254.169.254.
            "AWS_EC2_METADATA_DISABLED": "true",
            # A developer's ~/.aws (profiles, per-service endpoint_url) must not leak in.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        values.update({key: str(value) for key, value in extra.items()})
        return values

    @overload
    def client(self, service_name: Literal["s3"], **kwargs: Any) -> S3Client: ...
    @overload
    def client(self, service_name: Literal["dynamodb"], **kwargs: Any) -> DynamoDBClient: ...
    @overload
    def client(
        self, service_name: Literal["transcribe"], **kwargs: Any
    ) -> TranscribeServiceClient: ...
    @overload
    def client(self, service_name: Literal["sqs"], **kwargs: Any) -> SQSClient: ...
    @overload
    def client(self, service_name: Literal["events"], **kwargs: Any) -> EventBridgeClient: ...
    @overload
    def client(self, service_name: Literal["lambda"], **kwargs: Any) -> LambdaClient: ...
    @overload
    def client(self, service_name: str, **kwargs: Any) -> Any: ...
    def client(self, service_name: str, **kwargs: Any) -> Any:
        """A boto3 client for this embedded AWS (dummy credentials, standard retries).

        ``kwargs`` go to ``Session.client`` (e.g. ``config=``, or ``endpoint_url=`` to
        point ``transcribe`` at the Transcribe double instead).
        """
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        kwargs.setdefault("config", Config(retries={"mode": "standard", "max_attempts": 5}))
        with self._client_lock:
            return self._session.client(service_name, **kwargs)  # type: ignore[call-overload]

    # -- resources -----------------------------------------------------------------------
    def create_bucket(self, bucket: str, *, object_lock: bool = False) -> None:
        """A bucket in the embedded region; ``object_lock`` can only be had at creation."""
        s3 = self.client("s3")
        extra: dict[str, Any] = {"ObjectLockEnabledForBucket": True} if object_lock else {}
        if self.region != "us-east-1":
            extra["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        s3.create_bucket(Bucket=bucket, **extra)

    def create_archive(self, bucket: str, table: str, *, object_lock_days: int = 0) -> None:
        """The archive bucket and the history table, exactly as the stack declares them: the
        bucket versioned and, with ``object_lock_days``, with GOVERNANCE default retention."""
        self.create_bucket(bucket, object_lock=bool(object_lock_days))
        s3 = self.client("s3")
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        if object_lock_days:
            s3.put_object_lock_configuration(
                Bucket=bucket,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": object_lock_days}},
                },
            )
        self.client("dynamodb").create_table(**contract.create_table_kwargs(table))

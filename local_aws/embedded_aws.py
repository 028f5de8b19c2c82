"""An embedded AWS (moto server) on loopback, for integration tests, benchmarks and the demo.

moto's backends are process-global: every ``EmbeddedAWS`` in one process (and any
``moto.mock_aws`` in the same process) shares the same S3 buckets and DynamoDB tables.
Use unique names per test (see ``local_aws.archive_env``) rather than many servers.
"""

from __future__ import annotations

import os
import socketserver
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, overload

import boto3
from archiver import contract
from botocore.config import Config
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import ThreadedWSGIServer

from local_aws.http_server import DUMMY_CREDENTIAL, LOOPBACK, TrackedConnectionsMixin

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_transcribe import TranscribeServiceClient


class _QuietMotoHandler(MotoRequestHandler):
    """moto's handler without werkzeug's one-line-per-request access log on stderr."""

    # As in the Transcribe double: no ~40 ms delayed-ACK stalls between header and body.
    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class _TrackedWSGIServer(TrackedConnectionsMixin, ThreadedWSGIServer):
    """werkzeug's threaded server, but its connection threads can be woken and joined."""

    def __init__(self, host: str, port: int, app: Any) -> None:
        self._init_tracking(max_connections=512)
        super().__init__(host, port, app, handler=_QuietMotoHandler)

    def server_bind(self) -> None:
        # Skip HTTPServer's reverse-DNS getfqdn(); it can stall without a network.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


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


class _JoinableMotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` whose ``stop()`` leaves no connection thread behind.

    moto 5.2.5's own ``stop()`` ends the accept loop and joins that one thread, but the
    threads serving keep-alive connections (boto3 pools them) are daemons it never
    joins. This subclass builds the same WSGI app on a tracked server instead.
    """

    _startup_error: BaseException | None = None

    def _server_entry(self) -> None:
        try:
            app = _AtomicDynamoDB(DomainDispatcherApplication(create_backend_app))
            self._server = _TrackedWSGIServer(self._ip_address, self._port, app)
        except BaseException as exc:  # reported by EmbeddedAWS.start, not lost in a thread
            self._startup_error = exc
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever()

    def tracked_server(self) -> _TrackedWSGIServer | None:
        server = self._server
        return server if isinstance(server, _TrackedWSGIServer) else None


class EmbeddedAWS:
    """moto's server on ``127.0.0.1`` (a free port unless one is given).

    >>> with EmbeddedAWS() as aws:
    ...     s3 = aws.client("s3")
    """

    def __init__(self, *, region: str = "us-east-1", port: int = 0) -> None:
        self.region = region
        self._requested_port = port
        self._server: _JoinableMotoServer | None = None
        self._port: int | None = None
        self._session = boto3.session.Session(
            aws_access_key_id=DUMMY_CREDENTIAL,
            aws_secret_access_key=DUMMY_CREDENTIAL,
            region_name=region,
        )
        # boto3 sessions are not thread-safe while creating clients.
        self._client_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("EmbeddedAWS already started")
        server = _JoinableMotoServer(ip_address=LOOPBACK, port=self._requested_port, verbose=False)
        server.start()
        if server._startup_error is not None:
            raise RuntimeError("moto server failed to start") from server._startup_error
        host, port = server.get_host_and_port()
        if host != LOOPBACK:  # belt and braces: never expose the fake AWS beyond loopback
            server.stop()
            raise RuntimeError(f"moto bound {host}, expected {LOOPBACK}")
        self._server, self._port = server, port
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close the listening socket, wake and join every thread."""
        server, self._server = self._server, None
        if server is None:
            return
        tracked = server.tracked_server()
        if tracked is not None:
            tracked.closing.set()
        server.stop()  # shutdown() + join of the accept thread; werkzeug closes the socket
        stuck = tracked.close_and_join(timeout) if tracked is not None else []
        if stuck:
            raise RuntimeError(f"{len(stuck)} moto connection thread(s) did not stop")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # -- addressing --------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("EmbeddedAWS is not started")
        return self._port

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

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

    # -- clients -----------------------------------------------------------------------
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
    def create_bucket(self, bucket: str) -> None:
        s3 = self.client("s3")
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": self.region},  # type: ignore[typeddict-item]
            )

    def create_archive(self, bucket: str, table: str) -> None:
        """The archive bucket and the history table, exactly as the stack declares them."""
        self.create_bucket(bucket)
        self.client("dynamodb").create_table(**contract.create_table_kwargs(table))

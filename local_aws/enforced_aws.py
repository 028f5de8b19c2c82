"""An embedded AWS that enforces IAM: moto's server with authorization on, in a process of
its own, and an authorizer the Transcribe double asks with moto's own IAM evaluation.

moto keeps its backends and its authorization switch per process: turned on in a test
process it would apply to every embedded AWS there. So this one runs in a child process
(``python -m local_aws.enforced_aws``), each test process (pytest-xdist worker) starting
its own on a free loopback port, with authorization on from the first request and
:mod:`local_aws.iam_rules` asking what AWS asks. The child creates one IAM user with every
permission before it serves (the harness's administrator: it creates the resources, the
roles, and assumes them) and hands its keys to the parent on stdout; it stops when the
parent closes its stdin.

The Transcribe double is not moto. :class:`EnforcedAWS.authorize` makes it ask the child
for each API call: the child checks the request's SigV4 signature against the caller's
keys and evaluates the caller's policies for ``transcribe:<Operation>`` on the job's ARN,
with moto's code and moto's IAM state, exactly as for its own services.

The child also keeps every access denial it answered (principal, action, resource), for a
test to read with :meth:`EnforcedAWS.denials`.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Final

import boto3
from botocore.config import Config

from local_aws.http_server import LOOPBACK

#: The control paths the child serves beside moto's API.
AUTHORIZE_PATH: Final = "/_local_aws/authorize"
DENIALS_PATH: Final = "/_local_aws/denials"
ADMIN_USER: Final = "harness-admin"
ACCOUNT_ID: Final = "123456789012"  # moto's default account
_START_TIMEOUT: Final = 60.0
_STOP_TIMEOUT: Final = 10.0


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        """The variables boto3 reads these credentials from."""
        values = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }
        if self.session_token:
            values["AWS_SESSION_TOKEN"] = self.session_token
        return values


class EnforcedAWS:
    """moto with IAM enforced, in a child process on ``127.0.0.1:<free port>``.

    >>> with EnforcedAWS() as aws:
    ...     role = aws.create_role("fn", [policy_document])
    ...     creds = aws.assume(role)
    """

    def __init__(self, *, region: str = "us-east-1") -> None:
        self.region = region
        self._process: subprocess.Popen[str] | None = None
        self._port = 0
        self.admin: Credentials | None = None
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> EnforcedAWS:
        if self._process is not None:
            raise RuntimeError("EnforcedAWS already started")
        process = subprocess.Popen(
            [sys.executable, "-m", "local_aws.enforced_aws"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "AWS_REGION": self.region},
        )
        self._process = process
        handshake = _read_line(process.stdout, _START_TIMEOUT)
        if not handshake:
            self.stop()
            raise RuntimeError("the enforced AWS did not start (see its stderr)")
        started = json.loads(handshake)
        self._port = int(started["port"])
        self.admin = Credentials(started["access_key_id"], started["secret_access_key"])
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()  # the child's signal to stop
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(_STOP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> EnforcedAWS:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- addressing and clients --------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self._port}"

    def env(self, credentials: Credentials) -> dict[str, str]:
        """The environment a process needs to call this AWS as ``credentials``."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **credentials.env(),
        }

    def client(self, service: str, credentials: Credentials | None = None, **kwargs: Any) -> Any:
        """A boto3 client signing as ``credentials`` (default: the administrator)."""
        creds = credentials or self._admin()
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        kwargs.setdefault("config", Config(retries={"mode": "standard", "max_attempts": 3}))
        with self._lock:  # boto3 sessions are not thread-safe while creating clients
            session = boto3.session.Session(
                aws_access_key_id=creds.access_key_id,
                aws_secret_access_key=creds.secret_access_key,
                aws_session_token=creds.session_token,
                region_name=self.region,
            )
            return session.client(service, **kwargs)  # type: ignore[call-overload]

    def _admin(self) -> Credentials:
        if self.admin is None:
            raise RuntimeError("EnforcedAWS is not started")
        return self.admin

    # -- principals --------------------------------------------------------------------------
    def create_role(self, name: str, documents: Mapping[str, Mapping[str, Any]]) -> str:
        """A role with these inline policies (name -> document) that the administrator may
        assume (standing in for the service that assumes it in AWS); returns its ARN."""
        iam = self.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:user/{ADMIN_USER}"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
        for policy_name, document in documents.items():
            iam.put_role_policy(
                RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
            )
        return arn

    def assume(self, role_arn: str, session: str = "enforced") -> Credentials:
        answer = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)
        creds = answer["Credentials"]
        return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    # -- what the child saw ----------------------------------------------------------------
    def denials(self) -> list[dict[str, str]]:
        """Every access denial since the last call: principal, action, resource."""
        found: list[dict[str, str]] = self._control("GET", DENIALS_PATH)
        return found

    def _control(self, method: str, path: str, body: bytes | None = None) -> Any:
        connection = http.client.HTTPConnection(LOOPBACK, self._port, timeout=10)
        try:
            connection.request(method, path, body=body)
            reply = connection.getresponse()
            return json.loads(reply.read())
        finally:
            connection.close()

    def authorize(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        action: str,
        resource: str,
    ) -> str | None:
        """Authorize another service's request as moto authorizes its own: None when allowed,
        else why not. ``action`` is ``service:Operation``; the Transcribe double's
        ``authorizer``."""
        request = json.dumps(
            {
                "method": method,
                "path": path,
                "headers": dict(headers),
                "body": base64.b64encode(body).decode(),
                "action": action,
                "resource": resource,
            }
        ).encode()
        verdict: dict[str, Any] = self._control("POST", AUTHORIZE_PATH, request)
        return None if verdict["allowed"] else f"{verdict['code']}: {verdict['message']}"


def _read_line(stream: IO[str] | None, timeout: float) -> str:
    """One line from the child's stdout, or "" when it does not come in time."""
    if stream is None:
        return ""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0].strip() if lines else ""


# -- the child process ------------------------------------------------------------------------


class _Control:
    """WSGI: the control paths, and moto for everything else."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes] | Any:
        path = environ.get("PATH_INFO", "")
        if path == DENIALS_PATH:
            from local_aws.iam_rules import DENIALS  # noqa: PLC0415 - the child's only

            return _json(start_response, DENIALS.take())
        if path == AUTHORIZE_PATH and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            return _json(start_response, _authorize(json.loads(environ["wsgi.input"].read(length))))
        if environ.get("HTTP_X_AMZ_TARGET"):
            return _json_protocol_denial(self._app, environ, start_response)
        return self._app(environ, start_response)


def _json_protocol_denial(app: Any, environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """moto answers a denial in XML (403) whatever the protocol; AWS's JSON services (DynamoDB,
    SQS, ...) answer ``AccessDeniedException`` in JSON (400), which is what botocore, and
    the archiver's error handling, recognise."""
    answered: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answered[:] = [status, headers]
        return lambda _data: None

    body = b"".join(app(environ, capture))
    status, headers = answered
    if status.startswith("403") and b"<Code>AccessDenied</Code>" in body:
        message = body.split(b"<Message>", 1)[1].split(b"</Message>", 1)[0].decode()
        body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
        status = "400 Bad Request"
        # The CRC32 moto computed was of the XML body (DynamoDB's clients check it).
        replaced = {"content-type", "content-length", "x-amz-crc32"}
        headers = [(k, v) for k, v in headers if k.lower() not in replaced]
        headers += [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("Content-Length", str(len(body))),
            ("x-amzn-ErrorType", "AccessDeniedException"),
        ]
    start_response(status, headers)
    return [body]


def _json(start_response: Any, value: object) -> list[bytes]:
    payload = json.dumps(value).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [payload]


def _authorize(request: dict[str, Any]) -> dict[str, Any]:
    """moto's own check of a request to another service: signature, then policies."""
    from moto.iam.access_control import IAMRequest  # noqa: PLC0415 - the child's only
    from werkzeug.exceptions import HTTPException  # noqa: PLC0415

    service, _, operation = str(request["action"]).partition(":")
    try:
        iam_request = IAMRequest(
            account_id=ACCOUNT_ID,
            method=request["method"],
            path=request["path"],
            data={},
            body=base64.b64decode(request["body"]),
            headers=request["headers"],
            action=operation,
        )
        if iam_request._service != service:  # the credential scope names the service
            return {"allowed": False, "code": "InvalidSignatureException", "message": "scope"}
        iam_request.check_signature()
        iam_request.check_action_permitted(request["resource"])
    except HTTPException as denied:
        code = getattr(denied, "error_type", None) or "AccessDeniedException"
        message = getattr(denied, "message", None) or str(denied)
        return {"allowed": False, "code": code, "message": message}
    return {"allowed": True}


def _serve() -> None:
    from moto import settings  # noqa: PLC0415 - the child's only
    from moto.core.authorization import ActionAuthenticatorMixin  # noqa: PLC0415
    from moto.iam.models import iam_backends  # noqa: PLC0415

    from local_aws import iam_rules  # noqa: PLC0415
    from local_aws.embedded_aws import _MotoServer  # noqa: PLC0415

    iam_rules.refine()
    backend = iam_backends[ACCOUNT_ID]["global"]
    backend.create_user(region_name=os.environ.get("AWS_REGION", "us-east-1"), user_name=ADMIN_USER)
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    backend.put_user_policy(ADMIN_USER, "everything", json.dumps(everything))
    key = backend.create_access_key(user_name=ADMIN_USER)
    # From the first request on, every call is authenticated and authorized.
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0

    server = _MotoServer(0, wrap=_Control)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    print(
        json.dumps(
            {
                "port": server.server_address[1],
                "access_key_id": key.access_key_id,
                "secret_access_key": key.secret_access_key,
            }
        ),
        flush=True,
    )
    sys.stdin.read()  # until the parent closes it, or dies
    server.closing.set()
    server.shutdown()
    thread.join(_STOP_TIMEOUT)
    server.server_close()
    server.close_and_join(_STOP_TIMEOUT)


if __name__ == "__main__":
    _serve()

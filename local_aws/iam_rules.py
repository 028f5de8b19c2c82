"""moto's IAM authorization, made to ask what AWS asks for the calls this project makes.

moto 5.2.5 authenticates every request (SigV4 against the caller's IAM user or assumed-role
keys) and evaluates the caller's identity policies, but its "very basic" implementation
(moto/iam/access_control.py says so) differs from AWS's Service Authorization Reference in
ways a policy could hide behind:

* resource-level checks exist only for S3, SQS, IAM and STS; every other service is
  evaluated against ``*``, which a statement scoped to a table or a stack never matches.
  Here DynamoDB is evaluated against the table's ARN (``/index/NAME`` for an index
  query) and CloudFormation against the stack's;
* some S3 calls are authorized as another action (GetObjectRetention and GetObjectLegalHold
  as GetObject(Version), GetObjectLockConfiguration as ListBucket, HeadObject of a version
  as GetObject, DeleteObjects as one DeleteObject on the bucket) and some need a second
  permission that moto never asks for (PutObjectTagging for an object written with tags,
  GetObject(Version) on a copy's source). Here each is asked as AWS asks it;
* SQS's batch calls are authorized as their own names (``sqs:DeleteMessageBatch``), which
  are no IAM actions: AWS authorizes them as the single-message action.

What is left as moto has it: conditions (moto evaluates none in identity policies, and
takes a statement with one as a deny), resource-based policies, KMS (never consulted on
S3's or DynamoDB's behalf), CloudWatch Logs and X-Ray (the local runs make no such calls).

:func:`refine` patches moto's classes in the process it runs in: only the enforced
server's own process (``local_aws.enforced_aws``) calls it, never a test process, whose
embedded AWS runs with authorization off.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any, Final

from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.dynamodb.responses import DynamoHandler
from moto.iam import access_control
from moto.s3 import responses as s3_responses
from xmltodict import parse as parse_xml  # type: ignore[import-untyped]  # moto's own parser

#: API operations whose IAM action has another name.
_ACTION_NAMES: Final = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}

#: S3 sub-resources (query string keys) moto authorizes as another action.
_S3_ACTIONS: Final = {
    ("KEY", "GET", "retention"): "GetObjectRetention",
    ("KEY", "GET", "legal-hold"): "GetObjectLegalHold",
    ("KEY", "HEAD", "versionId"): "GetObjectVersion",
    ("BUCKET", "GET", "object-lock"): "GetBucketObjectLockConfiguration",
}


class Denials:
    """Every access denial the server answered: (principal, action, resource), in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[dict[str, str]] = []

    def add(self, principal: str, action: str, resource: str) -> None:
        with self._lock:
            self._seen.append({"principal": principal, "action": action, "resource": resource})

    def take(self) -> list[dict[str, str]]:
        """The denials so far, forgetting them."""
        with self._lock:
            seen, self._seen = self._seen, []
            return seen


DENIALS: Final = Denials()
_refined = False


def refine() -> None:
    """Patch moto's authorization in this process (idempotent)."""
    global _refined  # noqa: PLW0603 - moto's classes are process-wide too
    if _refined:
        return
    _refined = True
    _record_denials_and_rename_actions()
    DynamoHandler._determine_resource = _dynamodb_resource  # type: ignore[attr-defined]
    CloudFormationResponse._determine_resource = _stack_resource  # type: ignore[attr-defined]
    for (kind, method, sub_resource), action in _S3_ACTIONS.items():
        # moto takes the last sub-resource of the query it finds in this table: these come
        # after versionId, so "?retention&versionId=..." is GetObjectRetention.
        s3_responses.ACTION_MAP[kind][method][sub_resource] = action
    original = s3_responses.S3Response._authenticate_and_authorize_s3_action
    s3_responses.S3Response._authenticate_and_authorize_s3_action = _s3_checks(original)  # type: ignore[method-assign]


def _record_denials_and_rename_actions() -> None:
    init = access_control.IAMRequestBase.__init__
    check = access_control.IAMRequestBase.check_action_permitted

    def renamed_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._action = _ACTION_NAMES.get(self._action, self._action)

    def recorded_check(self: Any, resource: str) -> None:
        try:
            check(self, resource)
        except Exception:
            DENIALS.add(self._access_key.arn, self._action, resource)
            raise

    access_control.IAMRequestBase.__init__ = renamed_init  # type: ignore[method-assign]
    access_control.IAMRequestBase.check_action_permitted = recorded_check  # type: ignore[method-assign]


def _dynamodb_resource(self: Any) -> str:
    """The table (or index) a DynamoDB request names; ``*`` for calls that name none."""
    # moto has parsed the JSON body into a dict by now (DynamoHandler.call_action).
    body = self.body
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body or "{}")
        except ValueError:
            return "*"
    table = body.get("TableName") if isinstance(body, dict) else None
    if not isinstance(table, str):
        return "*"
    arn = f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}"
    index = body.get("IndexName")
    return f"{arn}/index/{index}" if isinstance(index, str) else arn


def _stack_resource(self: Any) -> str:
    """The stack a CloudFormation request names (its ARN holds a generated id)."""
    name = self.querystring.get("StackName", [None])[0]
    if not name:
        return "*"
    backend = cloudformation_backends[self.current_account][self.region]
    try:
        stack_id: str = backend.get_stack(name).stack_id
    except Exception:  # moto's ValidationError for a stack it does not know
        return f"arn:aws:cloudformation:{self.region}:{self.current_account}:stack/{name}/*"
    return stack_id


def _s3_checks(original: Callable[..., None]) -> Callable[..., None]:
    """moto's S3 check, plus the permissions AWS also asks for."""

    def check(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        action = self.data.get("Action")
        try:
            if action == "DeleteObject" and key_name is None and self.is_delete_keys():
                # DeleteObjects: each key as its own DeleteObject(Version), not the bucket.
                for key, version in _keys_to_delete(self.body):
                    self.data["Action"] = "DeleteObjectVersion" if version else "DeleteObject"
                    original(self, bucket_name=bucket_name, key_name=key)
                return
            original(self, bucket_name=bucket_name, key_name=key_name)
            if action != "PutObject" or key_name is None:
                return
            source = self.headers.get("x-amz-copy-source")
            if source:
                source_bucket, source_key, version = _copy_source(source)
                self.data["Action"] = "GetObjectVersion" if version else "GetObject"
                original(self, bucket_name=source_bucket, key_name=source_key)
            tags_written = self.headers.get("x-amz-tagging") and (
                not source or self.headers.get("x-amz-tagging-directive") == "REPLACE"
            )
            if tags_written:
                self.data["Action"] = "PutObjectTagging"
                original(self, bucket_name=bucket_name, key_name=key_name)
        finally:
            self.data["Action"] = action

    return check


def _copy_source(header: str) -> tuple[str, str, str | None]:
    """(bucket, key, version) of an ``x-amz-copy-source`` header."""
    path, _, query = header.partition("?")
    bucket, _, key = urllib.parse.unquote(path).lstrip("/").partition("/")
    version = urllib.parse.parse_qs(query).get("versionId", [None])[0]
    return bucket, key, version


def _keys_to_delete(body: bytes | str) -> Iterator[tuple[str, str | None]]:
    """(key, version) of each object of a DeleteObjects request."""
    objects = parse_xml(body, force_list={"Object"}).get("Delete", {}).get("Object", [])
    for entry in objects:
        yield str(entry.get("Key", "")), entry.get("VersionId") or None

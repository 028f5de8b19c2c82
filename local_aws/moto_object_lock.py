"""Object Lock reads the embedded AWS lacks: moto 5.2.5 answers ``GetObjectRetention`` with
the object's body (it has no handler for ``?retention``), which botocore cannot parse.

:func:`install` gives moto's S3 a ``GetObjectRetention`` that answers as S3 does: the
version's mode and retain-until date, or ``NoSuchObjectLockConfiguration`` when it has
none, and ``InvalidRequest`` in a bucket without Object Lock. It also names the actions of
``?retention`` and ``?legal-hold`` as IAM does (``s3:GetObjectRetention``,
``s3:GetObjectLegalHold``), where moto would check ``s3:GetObject``/``GetObjectVersion``.
Installed by :mod:`local_aws.embedded_aws`, so the server and in-process mocks both have it.
"""

from __future__ import annotations

from typing import Any

from moto.s3.exceptions import S3ClientError
from moto.s3.responses import ACTION_MAP, S3Response


class _NoSuchObjectLockConfiguration(S3ClientError):
    def __init__(self) -> None:
        super().__init__(
            "NoSuchObjectLockConfiguration",
            "The specified object does not have a ObjectLock configuration",
        )


class _MissingObjectLockConfiguration(S3ClientError):
    def __init__(self) -> None:
        super().__init__("InvalidRequest", "Bucket is missing Object Lock Configuration")


def _get_object_retention(response: Any) -> tuple[int, dict[str, str], str]:
    bucket = response.backend.get_bucket(response.bucket_name)
    if not bucket.object_lock_enabled:
        raise _MissingObjectLockConfiguration
    key, _ = response._get_key()
    if not key.lock_mode or not key.lock_until:
        raise _NoSuchObjectLockConfiguration
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Mode>{key.lock_mode}</Mode><RetainUntilDate>{key.lock_until}</RetainUntilDate>"
        "</Retention>"
    )
    headers = {"Content-Type": "application/xml"}
    if key.version_id != "null":
        headers["x-amz-version-id"] = key.version_id
    return 200, headers, body


def install() -> None:
    """Patch moto's S3 (idempotent; process-wide, as moto's state is)."""
    if "retention" in ACTION_MAP["KEY"]["GET"]:
        return
    # Later entries win when several match (moto keeps the last): these beat versionId.
    ACTION_MAP["KEY"]["GET"]["retention"] = "GetObjectRetention"
    ACTION_MAP["KEY"]["GET"]["legal-hold"] = "GetObjectLegalHold"
    original = S3Response._key_response_get

    def key_response_get(self: Any, query: dict[str, Any], key_name: str) -> Any:
        if "retention" in query:
            self._set_action("KEY", "GET", query)
            self._authenticate_and_authorize_s3_action(
                bucket_name=self.bucket_name, key_name=key_name
            )
            return _get_object_retention(self)
        return original(self, query, key_name)

    S3Response._key_response_get = key_response_get  # type: ignore[method-assign]

"""Every version of the archive's objects: what erasing a run must delete, and what Object
Lock forbids deleting.

The archive bucket is versioned: a plain DeleteObject only hides data behind a delete
marker. Erasing a run deletes each version and each delete marker by its VersionId.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from archiver.errors import PurgeRefusedError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_NO_LOCK: Final = frozenset(
    {"ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"}
)
#: DeleteObjects takes at most this many keys per request.
_DELETE_BATCH: Final = 1000


@dataclass(frozen=True)
class ObjectVersion:
    key: str
    version_id: str
    delete_marker: bool = False
    size: int = 0


@dataclass(frozen=True)
class Retention:
    """Why a version may not be deleted yet."""

    version: ObjectVersion
    mode: str | None  # GOVERNANCE or COMPLIANCE
    until: datetime | None
    legal_hold: bool


class ArchiveVersions:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def under(self, prefix: str) -> list[ObjectVersion]:
        """Every version and delete marker whose key starts with ``prefix``."""
        found: list[ObjectVersion] = []
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(
                ObjectVersion(v["Key"], v.get("VersionId") or "null", False, int(v.get("Size", 0)))
                for v in page.get("Versions", [])
            )
            found.extend(
                ObjectVersion(m["Key"], m.get("VersionId") or "null", True)
                for m in page.get("DeleteMarkers", [])
            )
        return sorted(found, key=lambda v: (v.key, v.delete_marker, v.version_id))

    def object_lock_enabled(self) -> bool:
        try:
            answer = self._s3.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) in {
                "ObjectLockConfigurationNotFoundError",
                "NoSuchObjectLockConfiguration",
            }:
                return False
            raise
        config = answer.get("ObjectLockConfiguration", {})
        return config.get("ObjectLockEnabled") == "Enabled"

    def retained(self, versions: Iterable[ObjectVersion], now: datetime) -> list[Retention]:
        """The versions Object Lock still protects (retention in the future, or a legal hold)."""
        if not self.object_lock_enabled():
            return []
        held: list[Retention] = []
        for version in versions:
            if version.delete_marker:
                continue  # delete markers carry no retention
            head: dict[str, Any] = dict(
                self._s3.head_object(
                    Bucket=self.bucket, Key=version.key, VersionId=version.version_id
                )
            )
            until = head.get("ObjectLockRetainUntilDate")
            hold = head.get("ObjectLockLegalHoldStatus") == "ON"
            if hold or (until is not None and until > now):
                held.append(Retention(version, head.get("ObjectLockMode"), until, hold))
        return held

    def delete(self, versions: list[ObjectVersion]) -> None:
        """Delete each version for good; PurgeRefusedError if S3 refuses any of them."""
        for start in range(0, len(versions), _DELETE_BATCH):
            batch = versions[start : start + _DELETE_BATCH]
            answer = self._s3.delete_objects(
                Bucket=self.bucket,
                Delete={
                    "Objects": [{"Key": v.key, "VersionId": v.version_id} for v in batch],
                    "Quiet": True,
                },
            )
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise PurgeRefusedError(
                    f"S3 refused to delete {len(errors)} version(s), e.g. {first.get('Key')} "
                    f"({first.get('Code')}: {first.get('Message')})"
                )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))

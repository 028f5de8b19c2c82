"""Everything of a run's folder that erasing it must remove, and what Object Lock forbids.

The archive bucket is versioned: a plain DeleteObject only hides data behind a delete
marker. Erasing a folder deletes each version and each delete marker by its VersionId, and
aborts every multipart upload still open under it (an invocation killed mid-upload leaves
its parts, which anyone allowed ``s3:PutObject`` could complete back into an object).

Object Lock is read version by version with GetObjectRetention and GetObjectLegalHold:
HeadObject shows a version's lock only to a caller allowed those two reads, and says
nothing otherwise. A caller refused them is refused the purge (:class:`LockUnreadable`),
never let through to a delete that S3 would refuse part-way.
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

#: A version with no retention (or no legal hold) set: nothing holds it.
_NO_LOCK: Final = "NoSuchObjectLockConfiguration"
_NO_BUCKET_LOCK: Final = frozenset(
    {"ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"}
)
_DENIED: Final = frozenset({"AccessDenied", "AccessDeniedException"})
#: DeleteObjects takes at most this many keys per request.
_DELETE_BATCH: Final = 1000


class LockUnreadable(PurgeRefusedError):
    """The caller may not read a version's Object Lock state: nothing may be deleted."""


@dataclass(frozen=True, order=True)
class ObjectVersion:
    key: str
    version_id: str
    delete_marker: bool = False
    size: int = 0


@dataclass(frozen=True, order=True)
class Upload:
    """A multipart upload begun and neither completed nor aborted."""

    key: str
    upload_id: str


@dataclass(frozen=True)
class Hold:
    """Why a version may not be deleted yet."""

    version: ObjectVersion
    mode: str | None  # GOVERNANCE or COMPLIANCE retention
    until: datetime | None
    legal_hold: bool


class ArchiveVersions:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def uri(self, folder: str) -> str:
        return f"s3://{self.bucket}/{folder}"

    # -- what is there -------------------------------------------------------------------

    def under(self, prefix: str) -> list[ObjectVersion]:
        """Every version and delete marker whose key starts with ``prefix``."""
        _check_prefix(prefix)
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
        return sorted(found)

    def uploads(self, prefix: str) -> list[Upload]:
        """Every multipart upload open under ``prefix``."""
        _check_prefix(prefix)
        found: list[Upload] = []
        paginator = self._s3.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(Upload(u["Key"], u["UploadId"]) for u in page.get("Uploads", []))
        return sorted(found)

    # -- Object Lock -----------------------------------------------------------------------

    def held(self, versions: Iterable[ObjectVersion], now: datetime) -> list[Hold]:
        """The versions Object Lock still protects: retention until after ``now``, or a
        legal hold. Raises :class:`LockUnreadable` when the caller may not read them."""
        candidates = [v for v in versions if not v.delete_marker]  # markers carry no lock
        if not candidates or not self._lock_enabled():
            # Without Object Lock on the bucket no version can carry a retention or a hold.
            return []
        held: list[Hold] = []
        for version in candidates:
            mode, until = self._retention(version)
            hold = self._legal_hold(version)
            if hold or (until is not None and until > now):
                held.append(Hold(version, mode, until, hold))
        return held

    def _lock_enabled(self) -> bool:
        try:
            answer = self._s3.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) in _NO_BUCKET_LOCK:
                return False
            _refuse_if_denied(exc, "s3:GetBucketObjectLockConfiguration", self.bucket)
            raise
        config = answer.get("ObjectLockConfiguration", {})
        return config.get("ObjectLockEnabled") == "Enabled"

    def _retention(self, version: ObjectVersion) -> tuple[str | None, datetime | None]:
        try:
            answer: dict[str, Any] = dict(
                self._s3.get_object_retention(
                    Bucket=self.bucket, Key=version.key, VersionId=version.version_id
                )
            )
        except ClientError as exc:
            if _code(exc) == _NO_LOCK:
                return None, None
            _refuse_if_denied(exc, "s3:GetObjectRetention", version.key)
            raise
        retention = answer.get("Retention", {})
        return retention.get("Mode"), retention.get("RetainUntilDate")

    def _legal_hold(self, version: ObjectVersion) -> bool:
        try:
            answer: dict[str, Any] = dict(
                self._s3.get_object_legal_hold(
                    Bucket=self.bucket, Key=version.key, VersionId=version.version_id
                )
            )
        except ClientError as exc:
            if _code(exc) == _NO_LOCK:
                return False
            _refuse_if_denied(exc, "s3:GetObjectLegalHold", version.key)
            raise
        return bool(answer.get("LegalHold", {}).get("Status") == "ON")

    # -- erasing ---------------------------------------------------------------------------

    def abort(self, uploads: Iterable[Upload]) -> None:
        """Abort each upload; its parts are deleted with it. One already gone is fine."""
        for upload in uploads:
            try:
                self._s3.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload.key, UploadId=upload.upload_id
                )
            except ClientError as exc:
                if _code(exc) != "NoSuchUpload":
                    raise

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


def _check_prefix(prefix: str) -> None:
    # A listing (and so a delete) must never reach beyond one run's folder.
    if not prefix.endswith("/") or prefix.strip("/") == "":
        raise ValueError(f"{prefix!r} is not a run's folder")


def _refuse_if_denied(exc: ClientError, action: str, what: str) -> None:
    if _code(exc) in _DENIED:
        raise LockUnreadable(
            f"not allowed to read Object Lock state ({action} on {what}): nothing was "
            "deleted, as S3 could refuse a locked version's deletion part-way; grant "
            "s3:GetObjectRetention and s3:GetObjectLegalHold (see README, purge)"
        ) from None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
